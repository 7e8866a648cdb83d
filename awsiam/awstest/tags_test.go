package awstest_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

// TestIAMListTagsPages: ListServerCertificateTags sorts the tags by key and
// pages them as IAM does (MaxItems, IsTruncated, Marker); with
// Options.IAMTagPageSize it returns fewer than MaxItems per page, as IAM may.
func TestIAMListTagsPages(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pageSize int
		maxItems *int32
		pages    int
	}{
		{"default page", 0, nil, 1},
		{"MaxItems 2", 0, aws.Int32(2), 3},
		{"IAM returns fewer", 1, nil, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, awstest.Options{IAMTagPageSize: tt.pageSize})
			c := sdkClients(srv, "eu-west-1", 1)
			m := newPKI(t).leaf(t, "www.example.com", nil)
			if _, err := srv.UploadServerCertificate("www", "/", m.cert, m.key, ""); err != nil {
				t.Fatal(err)
			}
			in := &iam.TagServerCertificateInput{ServerCertificateName: aws.String("www")}
			for _, k := range []string{"e", "c", "a", "d", "b"} {
				in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(k)})
			}
			if _, err := c.iam.TagServerCertificate(ctx(t), in); err != nil {
				t.Fatal(err)
			}
			p := iam.NewListServerCertificateTagsPaginator(c.iam, &iam.ListServerCertificateTagsInput{ServerCertificateName: aws.String("www"), MaxItems: tt.maxItems})
			var keys []string
			pages := 0
			for p.HasMorePages() && pages < 10 {
				page, err := p.NextPage(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, tg := range page.Tags {
					keys = append(keys, aws.ToString(tg.Key))
				}
			}
			if strings.Join(keys, "") != "abcde" || pages != tt.pages {
				t.Errorf("%d pages of %v, want %d pages of a…e", pages, keys, tt.pages)
			}
		})
	}
}
