package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/s3crypto"
)

// parseBucket reads "s3://bucket" (a trailing "/" allowed) naming a bucket.
func parseBucket(s string) (string, error) {
	l, err := parseLocation(s)
	if err != nil {
		return "", err
	}
	if !l.s3 || l.key != "" {
		return "", usagef("%q is not an s3://bucket URL", s)
	}
	return l.bucket, nil
}

func (a *app) mbCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "mb [flags] s3://bucket",
		Short: "Make a bucket",
		Long: `Make a bucket, in the region of --region (or AWS_REGION, or the profile's).
Nothing in it is encrypted yet: put and cp encrypt each object. --dry-run
prints what would be made and sends nothing.`,
		Example: `  s3c mb s3://my-backups
  s3c --region eu-west-3 mb s3://my-backups-paris
  s3c mb --dry-run s3://my-backups`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := parseBucket(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if a.dryRun {
				fmt.Fprintf(a.stdout, "(dry run) make bucket: s3://%s\n", bucket)
				return nil
			}
			sc, err := a.s3Client(ctx)
			if err != nil {
				return err
			}
			in := &s3.CreateBucketInput{Bucket: &bucket}
			if r := sc.Options().Region; r != "" && r != "us-east-1" {
				in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
			}
			if _, err := sc.CreateBucket(ctx, in); err != nil {
				return fmt.Errorf("mb s3://%s: %w", bucket, err)
			}
			if a.json {
				return a.printJSON(map[string]any{"bucket": bucket})
			}
			a.say("mb s3://%s", bucket)
			return nil
		},
	}
	a.jsonFlag(c.Flags())
	a.dryRunFlag(c.Flags())
	return c
}

func (a *app) rbCommand() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rb [--force] s3://bucket",
		Short: "Remove a bucket",
		Long: `Remove a bucket. A bucket that holds objects is refused, unless --force,
which first deletes every object in it (with their instruction files, as rm
does) and aborts its incomplete multipart uploads. A versioned bucket keeps
its older versions: --force refuses it; delete them with another tool.
--dry-run checks what rb would check, prints what would be deleted and
removed, one line each, and changes nothing.`,
		Example: `  s3c rb s3://my-scratch
  s3c rb --force s3://my-scratch
  s3c rb --force --dry-run s3://my-scratch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, err := parseBucket(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.metaClient(ctx)
			if err != nil {
				return err
			}
			deleted := 0
			if force && a.dryRun {
				if err = a.planEmptyBucket(ctx, c, bucket); err != nil {
					return err
				}
			} else if force {
				if deleted, err = a.emptyBucket(ctx, c, bucket); err != nil {
					return err
				}
			} else {
				out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, MaxKeys: aws.Int32(1)})
				if err != nil {
					return fmt.Errorf("rb s3://%s: %w", bucket, err)
				}
				if len(out.Contents) > 0 {
					return fmt.Errorf("rb s3://%s: the bucket is not empty (it holds %s, …): rb --force deletes its objects first", bucket, aws.ToString(out.Contents[0].Key))
				}
			}
			if a.dryRun {
				fmt.Fprintf(a.stdout, "(dry run) remove bucket: s3://%s\n", bucket)
				return nil
			}
			if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
				return fmt.Errorf("rb s3://%s: %w", bucket, err)
			}
			if a.json {
				return a.printJSON(map[string]any{"bucket": bucket, "deleted": deleted})
			}
			if force {
				a.say("rb s3://%s: %d objects deleted, bucket removed", bucket, deleted)
			} else {
				a.say("rb s3://%s", bucket)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "delete the bucket's objects and abort its multipart uploads first")
	a.jsonFlag(c.Flags())
	a.dryRunFlag(c.Flags())
	return c
}

// planEmptyBucket is emptyBucket under --dry-run: the same refusal of a
// versioned bucket, then a line for each object that would be deleted
// (its instruction file and index go with it, and are not listed).
func (a *app) planEmptyBucket(ctx context.Context, c *s3crypto.Client, bucket string) error {
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
	if err != nil {
		return fmt.Errorf("rb --force s3://%s: %w", bucket, err)
	}
	if v.Status != "" {
		return fmt.Errorf("rb --force s3://%s: the bucket is versioned (%s): deleting its objects would keep their older versions, and S3 would not remove it; delete the versions with another tool", bucket, v.Status)
	}
	return a.listStream(ctx, bucket, "", "", func(page []listed) bool {
		for _, o := range page {
			fmt.Fprintf(a.stdout, "(dry run) delete: s3://%s/%s\n", bucket, o.key)
		}
		return ctx.Err() == nil
	})
}

// emptyBucket deletes every object in bucket with the encryption client's
// DeleteObjects (an object's instruction file goes with it), page by page,
// and aborts its incomplete multipart uploads. An instruction file whose
// object is on a later page is refused at first (InstructionFileInUse):
// the next pass deletes it, once its object is gone. It returns how many
// objects it deleted.
func (a *app) emptyBucket(ctx context.Context, c *s3crypto.Client, bucket string) (int, error) {
	fail := func(err error) error { return fmt.Errorf("rb --force s3://%s: %w", bucket, err) }
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
	if err != nil {
		return 0, fail(err)
	}
	if v.Status != "" {
		return 0, fail(fmt.Errorf("the bucket is versioned (%s): deleting its objects would keep their older versions, and S3 would not remove it; delete the versions with another tool", v.Status))
	}
	deleted := 0
	for pass := 0; ; pass++ {
		inUse := 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return deleted, fail(err)
			}
			if len(page.Contents) == 0 {
				continue
			}
			ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
			for _, o := range page.Contents {
				ids = append(ids, types.ObjectIdentifier{Key: o.Key})
			}
			out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				return deleted, fail(err)
			}
			var errs []string
			for _, e := range out.Errors {
				if aws.ToString(e.Code) == "InstructionFileInUse" {
					inUse++
					continue
				}
				errs = append(errs, fmt.Sprintf("%s: %s", aws.ToString(e.Key), aws.ToString(e.Message)))
			}
			if len(errs) > 0 {
				return deleted, fail(fmt.Errorf("%d objects not deleted: %s", len(errs), strings.Join(errs, "; ")))
			}
			deleted += len(ids) - inUse
		}
		if inUse == 0 {
			break
		}
		if pass >= 2 {
			return deleted, fail(fmt.Errorf("%d instruction files are still needed by objects that could not be deleted", inUse))
		}
	}
	return deleted, a.abortAllUploads(ctx, c, bucket)
}

// abortAllUploads aborts the bucket's incomplete multipart uploads.
func (a *app) abortAllUploads(ctx context.Context, c *s3crypto.Client, bucket string) error {
	p := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("rb --force s3://%s: listing its multipart uploads: %w", bucket, err)
		}
		for _, u := range page.Uploads {
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil && !isNoSuchUpload(err) {
				return fmt.Errorf("rb --force s3://%s: aborting the multipart upload %s of %s: %w", bucket, aws.ToString(u.UploadId), aws.ToString(u.Key), err)
			}
		}
	}
	return nil
}
