package s3crypto

import (
	"errors"
	"fmt"
	"maps"

	"github.com/s3c/s3c/metadata"
)

// The envelope's placement, shared by every front end (the aws-sdk-go-v2
// Client here, and package miniocrypto).

// ErrNoInstructionFile is what a fetch function given to ReadEnvelope
// returns when the instruction file does not exist.
var ErrNoInstructionFile = errors.New("no instruction file")

// InstructionFileKey names the instruction file of an object.
func (o *Options) InstructionFileKey(key string) string {
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
func (o *Options) PlaceEnvelope(env *metadata.Envelope, user map[string]string, forceInstruction bool) (objectMeta map[string]string, instruction []byte, err error) {
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
		if metadataSize(merged) <= limit {
			return merged, nil, nil
		}
	}
	obj, file, err := env.InstructionFile()
	if err != nil {
		return nil, nil, err
	}
	merged := mergeMetadata(user, obj)
	if n := metadataSize(merged); n > limit {
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

// ReadEnvelope decodes an object's envelope from its user metadata or,
// when the metadata holds none, from its instruction file, which fetch
// returns given its key (ErrNoInstructionFile if there is none). An object
// with neither is ErrNotEncrypted.
func (o *Options) ReadEnvelope(key string, meta map[string]string, fetch func(instructionKey string) ([]byte, error)) (*metadata.Envelope, error) {
	env, err := metadata.Decode(meta)
	if !errors.Is(err, metadata.ErrNoEnvelope) {
		return env, err
	}
	instKey := o.InstructionFileKey(key)
	file, ferr := fetch(instKey)
	switch {
	case errors.Is(ferr, ErrNoInstructionFile):
		if err != metadata.ErrNoEnvelope { // the metadata promised an instruction file
			return nil, fmt.Errorf("%w; instruction file %s not found", err, instKey)
		}
		return nil, ErrNotEncrypted
	case ferr != nil:
		return nil, fmt.Errorf("fetching instruction file %s: %w", instKey, ferr)
	}
	return metadata.DecodeInstructionFile(meta, file)
}
