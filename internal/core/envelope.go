package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/s3c/s3c/metadata"
)

// The envelope's placement, shared by both front ends (s3crypto's Client
// and package miniocrypto).

// ErrNoInstructionFile is what a fetch function given to ReadEnvelope
// returns when the instruction file does not exist.
var ErrNoInstructionFile = errors.New("no instruction file")

// InstructionFileKey names the instruction file of an object.
func InstructionFileKey(o *Options, key string) string {
	suffix := o.InstructionFileSuffix
	if suffix == "" {
		suffix = metadata.DefaultInstructionSuffix
	}
	return key + suffix
}

// PlaceEnvelope decides where an object's envelope goes and returns the
// object's user metadata (the caller's, plus the envelope or its V3
// object-only keys) and, when the envelope goes to an instruction file,
// that file's body. The instruction file is used when asked for, by the
// options or by forceInstruction, and whenever the envelope would not fit
// beside the caller's metadata in Options.MaxMetadataSize.
func PlaceEnvelope(o *Options, env *metadata.Envelope, user map[string]string, forceInstruction bool) (objectMeta map[string]string, instruction []byte, err error) {
	limit := o.MaxMetadataSize
	if limit <= 0 {
		limit = defaultMetadataSize
	}
	if !o.InstructionFile && !forceInstruction {
		m, err := env.Metadata()
		if err != nil {
			return nil, nil, err
		}
		merged := mergeMetadata(user, m)
		if MetadataSize(merged) <= limit {
			return merged, nil, nil
		}
	}
	obj, file, err := env.InstructionFile()
	if err != nil {
		return nil, nil, err
	}
	merged := mergeMetadata(user, obj)
	if n := MetadataSize(merged); n > limit {
		return nil, nil, fmt.Errorf("user metadata is %d bytes, more than S3's limit of %d", n, limit)
	}
	return merged, file, nil
}

func mergeMetadata(user, env map[string]string) map[string]string {
	m := maps.Clone(user)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, env)
	return m
}

// IsInstructionFile reports whether an object's user metadata, as S3
// returns it (keys without the x-amz-meta- prefix, in any case), carries
// the marker AWS's S3 Encryption Clients and s3c put on instruction files:
// the key x-amz-crypto-instr-file, whose value is empty. An object without
// it is never taken for an instruction file, whatever its name, except
// where ReadEnvelope explains.
func IsInstructionFile(meta map[string]string) bool {
	for k := range meta {
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.TrimPrefix(k, "x-amz-meta-") == metadata.KeyInstructionFileMarker {
			return true
		}
	}
	return false
}

// InstructionFile is an object that may be an instruction file: its body
// and its user metadata, as a fetch function given to ReadEnvelope
// returns them.
type InstructionFile struct {
	Body     []byte
	Metadata map[string]string
}

// ReadEnvelope decodes an object's envelope from its user metadata or,
// when the metadata holds none, from its instruction file, which fetch
// returns given its key (ErrNoInstructionFile if there is none). An object
// with neither is ErrNotEncrypted.
//
// The object <key><suffix> is taken for the instruction file when it
// carries the marker (IsInstructionFile), or when the object's metadata
// holds V3's key commitment without the encrypted data key (the object
// then cannot be read without it). An unmarked one beside an object whose
// metadata holds no envelope key at all is the instruction file only if
// its body is a JSON object with a V1 or V2 encrypted data key and IV: AWS
// SDK for Go v1's S3SaveStrategy writes such files without the marker.
// Anything else, a user's own X.instruction object, is not an envelope,
// and the object is ErrNotEncrypted.
func ReadEnvelope(o *Options, key string, meta map[string]string, fetch func(instructionKey string) (*InstructionFile, error)) (*metadata.Envelope, error) {
	env, err := metadata.Decode(meta)
	if !errors.Is(err, metadata.ErrNoEnvelope) {
		return env, err
	}
	promised := err != metadata.ErrNoEnvelope // V3 commitment in the metadata
	instKey := InstructionFileKey(o, key)
	file, ferr := fetch(instKey)
	switch {
	case errors.Is(ferr, ErrNoInstructionFile):
		if promised {
			return nil, fmt.Errorf("%w; instruction file %s not found", err, instKey)
		}
		return nil, ErrNotEncrypted
	case ferr != nil:
		return nil, fmt.Errorf("fetching instruction file %s: %w", instKey, ferr)
	}
	if !promised && !IsInstructionFile(file.Metadata) && !unmarkedInstructionFile(file.Body) {
		return nil, ErrNotEncrypted
	}
	return metadata.DecodeInstructionFile(meta, file.Body)
}

// unmarkedInstructionFile reports whether an object without the marker
// is nonetheless a V1/V2 instruction file, as AWS SDK for Go v1 writes
// them: a JSON object holding x-amz-iv and x-amz-key-v2 or x-amz-key as
// non-empty strings. It only looks; DecodeInstructionFile validates.
func unmarkedInstructionFile(body []byte) bool {
	if len(body) > metadata.MaxInstruction {
		return false
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	has := func(k string) bool {
		for mk, v := range m {
			if s, ok := v.(string); ok && s != "" && strings.EqualFold(mk, k) {
				return true
			}
		}
		return false
	}
	return has(metadata.KeyIV) && (has(metadata.KeyV2EncryptedKey) || has(metadata.KeyV1EncryptedKey))
}

// ErrInstructionFileInUse is returned, wrapped, when a call would
// overwrite or delete an instruction file that an existing object needs:
// that object could not be decrypted any more.
var ErrInstructionFileInUse = errors.New("instruction file in use")

// InstructionFileOwner tells whether key names an instruction file in use
// and returns its owner's key: key ends in the instruction-file suffix,
// the object key carries the marker (instMeta, nil if there is none), and
// the owner exists (ownerMeta, nil if it does not) without an envelope of
// its own in its metadata. A marked file whose owner is gone, or keeps
// its envelope in its metadata, is stale and free to replace.
func InstructionFileOwner(o *Options, key string, instMeta, ownerMeta map[string]string) (owner string, inUse bool) {
	owner, ok := strings.CutSuffix(key, InstructionFileKey(o, ""))
	if !ok || owner == "" || instMeta == nil || ownerMeta == nil || !IsInstructionFile(instMeta) {
		return owner, false
	}
	_, err := metadata.Decode(ownerMeta)
	return owner, errors.Is(err, metadata.ErrNoEnvelope)
}
