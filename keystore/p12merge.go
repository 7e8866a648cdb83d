package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

// keytool 17's PKCS#12 protection (keystore.pkcs12.keyProtectionAlgorithm and
// certProtectionAlgorithm PBEWithHmacSHA256AndAES_256, 10,000 iterations).
const p12Iterations = 10_000

// p12Info is one content info of the authenticated safe, with its bags when they were
// read (plain ones always, encrypted ones after decryption).
type p12Info struct {
	raw       []byte // the content info as stored
	encrypted bool
	bags      []asn1.RawValue // the SafeContents' bags as stored
	parsed    []*p12Bag       // parallel to bags; nil for a bag that is not read
}

// mergePKCS12 replaces or adds kp's alias in a PKCS#12 file; see MergeData.
func mergePKCS12(data []byte, pass Passwords, kp *KeyPair) ([]byte, bool, error) {
	pfx, authSafe, cis, err := decodePFX(data, pass.Store)
	if err != nil {
		return nil, false, err
	}
	var rawInfos []asn1.RawValue
	if _, err := asn1.Unmarshal(authSafe, &rawInfos); err != nil || len(rawInfos) != len(cis) {
		return nil, false, malformed(FormatPKCS12, "authenticated safe contents", err)
	}
	infos := make([]*p12Info, len(cis))
	var all []*p12Bag
	anyEncrypted := false
	for i, ci := range cis {
		contents, err := safeContents(ci, pass.Store)
		if err != nil {
			return nil, false, err
		}
		info := &p12Info{raw: rawInfos[i].FullBytes, encrypted: ci.ContentType.Equal(oidEncryptedDataContentType)}
		anyEncrypted = anyEncrypted || info.encrypted
		if rest, err := asn1.Unmarshal(contents, &info.bags); err != nil || len(rest) > 0 {
			return nil, false, malformed(FormatPKCS12, "safe bags", err)
		}
		for _, rb := range info.bags {
			var sb safeBag
			if rest, err := asn1.Unmarshal(rb.FullBytes, &sb); err != nil || len(rest) > 0 {
				return nil, false, malformed(FormatPKCS12, "safe bag", err)
			}
			if sb.ID.Equal(oidSafeContentsBag) {
				// Neither Java nor OpenSSL nests them; what is inside could not be
				// kept apart from the entry replaced.
				return nil, false, errorf(ErrUnsupportedFormat, "PKCS#12 with nested safe contents: a key entry is not merged into it")
			}
			b, err := newP12Bag(sb)
			if err != nil {
				return nil, false, err
			}
			info.parsed = append(info.parsed, b)
			if b != nil {
				all = append(all, b)
			}
		}
		infos[i] = info
	}
	ks, err := p12Entries(all, pass.Store)
	if err != nil {
		return nil, false, err
	}
	old := findAlias(ks, kp.Alias)
	same, keyErr, err := sameEntry(old, kp, pass.KeyPass())
	if err != nil || same {
		return nil, false, err
	}
	if keyErr != nil && !hasMAC(&pfx) && !anyEncrypted && pass.Key == nil {
		// Nothing in this file checks the store password but the keys: a key that
		// does not open means a wrong store password, which must not be written in.
		return nil, false, ErrWrongPassword
	}
	if err := keptKeyPassword(kp.Alias, keyErr); err != nil {
		return nil, false, err
	}
	if old == nil && !hasMAC(&pfx) && !anyEncrypted && !anyKeyOpens(ks, pass.KeyPass()) {
		return nil, false, ErrWrongPassword
	}

	// What goes: the old entry's key bag, its leaf, and issuers of its chain that no
	// other key entry's chain uses and that are not trusted-certificate entries.
	removeKey := map[*p12Bag]bool{}
	var removedIDs [][]byte
	for _, b := range all {
		if isKeyBag(b) && keyBagAlias(b, all) != "" && strings.EqualFold(keyBagAlias(b, all), kp.Alias) {
			removeKey[b] = true
			if len(b.localKeyID) > 0 {
				removedIDs = append(removedIDs, b.localKeyID)
			}
		}
	}
	usedElsewhere := map[string]bool{}
	for _, e := range ks.Entries {
		if e != old {
			for _, c := range e.Chain {
				usedElsewhere[string(c.Raw)] = true
			}
		}
	}
	oldChain := map[string]bool{}
	if old != nil {
		for _, c := range old.Chain {
			oldChain[string(c.Raw)] = true
		}
	}
	remove := func(b *p12Bag) bool {
		switch {
		case b == nil:
			return false
		case removeKey[b]:
			return true
		case b.cert == nil:
			return false
		}
		for _, id := range removedIDs {
			if bytes.Equal(b.localKeyID, id) {
				return true
			}
		}
		if b.javaTrusted || usedElsewhere[string(b.cert.Raw)] {
			return false
		}
		return oldChain[string(b.cert.Raw)] || (len(b.localKeyID) == 0 && strings.EqualFold(b.friendlyName, kp.Alias))
	}

	var outInfos []asn1.RawValue
	present := map[string]bool{}
	for _, info := range infos {
		var keep []asn1.RawValue
		for j, rb := range info.bags {
			if b := info.parsed[j]; remove(b) {
				continue
			} else if b != nil && b.cert != nil {
				present[string(b.cert.Raw)] = true
			}
			keep = append(keep, rb)
		}
		switch {
		case len(keep) == len(info.bags):
			outInfos = append(outInfos, asn1.RawValue{FullBytes: info.raw})
		case len(keep) == 0:
			// Everything in it belonged to the old entry.
		default:
			ci, err := p12ContentInfo(keep, info.encrypted, pass.Store)
			if err != nil {
				return nil, false, err
			}
			outInfos = append(outInfos, ci)
		}
	}

	// What comes: the leaf named like the key, the issuers the file does not hold yet,
	// and the key.
	// The localKeyId ties the key to its leaf: the leaf's SHA-1 as OpenSSL makes it,
	// or, should a kept bag use that already, the SHA-1 of the leaf and the alias.
	localKeyID := sha1.Sum(kp.Leaf.Raw)
	for _, b := range all {
		if !remove(b) && bytes.Equal(b.localKeyID, localKeyID[:]) {
			localKeyID = sha1.Sum(append(append([]byte(nil), kp.Leaf.Raw...), kp.Alias...))
			break
		}
	}
	attrs, err := p12EntryAttributes(kp.Alias, localKeyID[:])
	if err != nil {
		return nil, false, err
	}
	leafBag, err := p12CertBag(kp.Leaf, attrs)
	if err != nil {
		return nil, false, err
	}
	certBags := []asn1.RawValue{leafBag}
	for _, c := range kp.Chain {
		if present[string(c.Raw)] {
			continue
		}
		cb, err := p12CertBag(c, nil)
		if err != nil {
			return nil, false, err
		}
		certBags = append(certBags, cb)
	}
	keyBag, err := p12ShroudedKeyBag(kp, pass.KeyPass(), attrs)
	if err != nil {
		return nil, false, err
	}
	for _, group := range []struct {
		bags      []asn1.RawValue
		encrypted bool
	}{{certBags, anyEncrypted}, {[]asn1.RawValue{keyBag}, false}} {
		ci, err := p12ContentInfo(group.bags, group.encrypted, pass.Store)
		if err != nil {
			return nil, false, err
		}
		outInfos = append(outInfos, ci)
	}

	der, err := encodePFX(&pfx, outInfos, pass.Store)
	if err != nil {
		return nil, false, err
	}
	return der, true, nil
}

// encodePFX writes a PKCS#12 file of the content infos, with a new MAC (same
// algorithm and iterations, a new salt) when the original pfx had one.
func encodePFX(pfx *pfxPdu, infos []asn1.RawValue, storePass []byte) ([]byte, error) {
	authSafe, err := asn1.Marshal(infos)
	if err != nil {
		return nil, err
	}
	authSafeInfo, err := dataContentInfo(authSafe)
	if err != nil {
		return nil, err
	}
	out := pfxPdu{Version: 3, AuthSafe: authSafeInfo}
	if hasMAC(pfx) {
		newHash := macHash(pfx.MacData.Mac.Algorithm.Algorithm)
		salt := make([]byte, max(len(pfx.MacData.MacSalt), 16))
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		out.MacData = macData{
			Mac:        digestInfo{Algorithm: pfx.MacData.Mac.Algorithm, Digest: pkcs12MAC(newHash, bmpPassword(storePass), salt, pfx.MacData.Iterations, authSafe)},
			MacSalt:    salt,
			Iterations: pfx.MacData.Iterations,
		}
	}
	return asn1.Marshal(out)
}

func isKeyBag(b *p12Bag) bool {
	return b != nil && (b.kind.Equal(oidKeyBag) || b.kind.Equal(oidPKCS8ShroudedKeyBag))
}

// keyBagAlias is the alias p12Entries gives a key bag: its friendlyName, else its
// leaf's.
func keyBagAlias(b *p12Bag, all []*p12Bag) string {
	if b.friendlyName != "" || len(b.localKeyID) == 0 {
		return b.friendlyName
	}
	for _, c := range all {
		if c.cert != nil && bytes.Equal(c.localKeyID, b.localKeyID) {
			return c.friendlyName
		}
	}
	return ""
}

// anyKeyOpens reports whether keyPass opens some key of ks; true when there is none
// (then nothing can check a password).
func anyKeyOpens(ks *Keystore, keyPass []byte) bool {
	keys := ks.KeyEntries()
	for _, e := range keys {
		if _, err := e.decrypt(keyPass); err == nil {
			return true
		}
	}
	return len(keys) == 0
}

// explicit0 is the [0] EXPLICIT wrapper around inner, an encoded value. (encoding/asn1
// writes a RawValue as it is, ignoring the field's explicit tag.)
func explicit0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

// dataContentInfo wraps content in a ContentInfo of type data.
func dataContentInfo(content []byte) (contentInfo, error) {
	octets, err := asn1.Marshal(content)
	return contentInfo{ContentType: oidDataContentType, Content: explicit0(octets)}, err
}

// p12ContentInfo encodes bags as one SafeContents in a content info, encrypted with
// storePass when encrypted is set.
func p12ContentInfo(bags []asn1.RawValue, encrypted bool, storePass []byte) (asn1.RawValue, error) {
	contents, err := asn1.Marshal(bags)
	if err != nil {
		return asn1.RawValue{}, err
	}
	ci, err := dataContentInfo(contents)
	if err != nil {
		return asn1.RawValue{}, err
	}
	if encrypted {
		alg, enc, err := pbes2Encrypt(contents, storePass)
		if err != nil {
			return asn1.RawValue{}, err
		}
		ed, err := asn1.Marshal(encryptedData{Version: 0, EncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidDataContentType,
			ContentEncryptionAlgorithm: alg,
			EncryptedContent:           asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: enc},
		}})
		if err != nil {
			return asn1.RawValue{}, err
		}
		ci = contentInfo{ContentType: oidEncryptedDataContentType, Content: explicit0(ed)}
	}
	der, err := asn1.Marshal(ci)
	return asn1.RawValue{FullBytes: der}, err
}

// p12EntryAttributes are the friendlyName (the alias) and localKeyId that tie a key
// bag to its leaf.
func p12EntryAttributes(alias string, localKeyID []byte) ([]pkcs12Attribute, error) {
	name, err := friendlyNameAttr(alias)
	if err != nil {
		return nil, err
	}
	id, err := asn1.Marshal(localKeyID)
	if err != nil {
		return nil, err
	}
	return []pkcs12Attribute{name, {ID: oidLocalKeyID, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: id}}}, nil
}

func p12SafeBag(id asn1.ObjectIdentifier, value []byte, attrs []pkcs12Attribute) (asn1.RawValue, error) {
	der, err := asn1.Marshal(safeBag{ID: id, Value: explicit0(value), Attributes: attrs})
	return asn1.RawValue{FullBytes: der}, err
}

func p12CertBag(c *x509.Certificate, attrs []pkcs12Attribute) (asn1.RawValue, error) {
	value, err := asn1.Marshal(certBag{ID: oidCertTypeX509, Data: c.Raw})
	if err != nil {
		return asn1.RawValue{}, err
	}
	return p12SafeBag(oidCertBag, value, attrs)
}

func p12ShroudedKeyBag(kp *KeyPair, keyPass []byte, attrs []pkcs12Attribute) (asn1.RawValue, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return asn1.RawValue{}, err
	}
	alg, enc, err := pbes2Encrypt(plain, keyPass)
	if err != nil {
		return asn1.RawValue{}, err
	}
	value, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: alg, Data: enc})
	if err != nil {
		return asn1.RawValue{}, err
	}
	return p12SafeBag(oidPKCS8ShroudedKeyBag, value, attrs)
}

// pbes2Encrypt encrypts plain under password (UTF-8, as PBKDF2 takes it) with PBES2:
// PBKDF2 with HMAC-SHA-256 and a random 16-byte salt, AES-256-CBC with a random IV.
func pbes2Encrypt(plain, password []byte) (pkix.AlgorithmIdentifier, []byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, p12Iterations, 32)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	data := pkcs7Pad(plain, aes.BlockSize)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, data)
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: p12Iterations, KeyLength: 32,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, data, nil
}
