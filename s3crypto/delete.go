package s3crypto

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DeleteObject deletes the object, then its instruction file. With a
// VersionId only that version is deleted: which version of the
// instruction file goes with it cannot be told, so it is left alone.
func (c *Client) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	out, err := c.Client.DeleteObject(ctx, in, optFns...)
	if err != nil {
		return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if in.VersionId != nil {
		return out, nil
	}
	inst := &s3.DeleteObjectInput{
		Bucket:              in.Bucket,
		Key:                 aws.String(aws.ToString(in.Key) + c.opts.InstructionFileSuffix),
		ExpectedBucketOwner: in.ExpectedBucketOwner,
		RequestPayer:        in.RequestPayer,
	}
	if _, err := c.Client.DeleteObject(ctx, inst, optFns...); err != nil {
		return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key),
			Err: fmt.Errorf("object deleted, but not its instruction file: %w", err)}
	}
	return out, nil
}

// DeleteObjects deletes the objects, then the instruction files of those
// deleted without a VersionId. Failures to delete an instruction file are
// added to the output's Errors under the instruction file's key.
func (c *Client) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	out, err := c.Client.DeleteObjects(ctx, in, optFns...)
	if err != nil {
		return nil, &ObjectError{Op: "DeleteObjects", Bucket: aws.ToString(in.Bucket), Err: err}
	}
	if in.Delete == nil {
		return out, nil
	}
	failed := map[string]bool{}
	for _, e := range out.Errors {
		failed[aws.ToString(e.Key)] = true
	}
	var insts []types.ObjectIdentifier
	for _, o := range in.Delete.Objects {
		if o.VersionId == nil && !failed[aws.ToString(o.Key)] {
			insts = append(insts, types.ObjectIdentifier{Key: aws.String(aws.ToString(o.Key) + c.opts.InstructionFileSuffix)})
		}
	}
	for len(insts) > 0 {
		n := min(len(insts), 1000)
		res, err := c.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket:              in.Bucket,
			Delete:              &types.Delete{Objects: insts[:n], Quiet: aws.Bool(true)},
			ExpectedBucketOwner: in.ExpectedBucketOwner,
			RequestPayer:        in.RequestPayer,
		}, optFns...)
		if err != nil {
			return nil, &ObjectError{Op: "DeleteObjects", Bucket: aws.ToString(in.Bucket),
				Err: fmt.Errorf("objects deleted, but not their instruction files: %w", err)}
		}
		out.Errors = append(out.Errors, res.Errors...)
		insts = insts[n:]
	}
	return out, nil
}
