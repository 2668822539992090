package s3store

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
)

var (
	_ sluice.ObjectLister     = (*Store)(nil)
	_ sluice.MultipartAborter = (*Store)(nil)
)

// ListObjects returns one page (up to 1000, the S3 maximum) of the objects
// under prefix, in key order, after cursor (empty for the first page).
// next is the S3 continuation token, empty on the last page.
func (s *Store) ListObjects(ctx context.Context, prefix, cursor string) ([]sluice.ObjectInfo, string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	if cursor != "" {
		in.ContinuationToken = aws.String(cursor)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, "", translate(err, "list "+prefix)
	}
	objs := make([]sluice.ObjectInfo, 0, len(out.Contents))
	for _, o := range out.Contents {
		objs = append(objs, sluice.ObjectInfo{
			Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
			ETag: strings.Trim(aws.ToString(o.ETag), `"`), Modified: aws.ToTime(o.LastModified),
		})
	}
	if !aws.ToBool(out.IsTruncated) {
		return objs, "", nil
	}
	return objs, aws.ToString(out.NextContinuationToken), nil
}

// MultipartUploads lists the incomplete multipart uploads under prefix,
// with when each began.
func (s *Store) MultipartUploads(ctx context.Context, prefix string) ([]sluice.MultipartUpload, error) {
	var ups []sluice.MultipartUpload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, translate(err, "list multipart uploads")
		}
		for _, u := range out.Uploads {
			ups = append(ups, sluice.MultipartUpload{
				Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated),
			})
		}
		if !aws.ToBool(out.IsTruncated) {
			return ups, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// AbortMultipart drops a multipart upload and its parts; one already gone
// is not an error.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	if err == nil {
		return nil
	}
	if terr := translate(err, "abort "+key); sluice.IsCode(terr, sluice.CodeNotFound) || strings.Contains(err.Error(), "NoSuchUpload") {
		return nil
	}
	return translate(err, "abort multipart upload of "+key)
}
