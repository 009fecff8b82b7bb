package s3crypto

import (
	"github.com/aws/smithy-go/middleware"
)

type objectInfoKey struct{}

// GetObjectInfo returns the ObjectInfo of a GetObject or HeadObject
// output of a Client: GetObjectInfo(out.ResultMetadata). ok is false for
// objects that are not encrypted.
func GetObjectInfo(md middleware.Metadata) (info *ObjectInfo, ok bool) {
	info, ok = md.Get(objectInfoKey{}).(*ObjectInfo)
	return info, ok
}

func setObjectInfo(md *middleware.Metadata, info *ObjectInfo) { md.Set(objectInfoKey{}, info) }
