package kmstest

import (
	"encoding/json"
	"sort"
	"time"
)

const (
	symmetricDefault = "SYMMETRIC_DEFAULT"

	// Real KMS sends no message at all here; a hint makes test failures
	// easier to diagnose without revealing anything secret.
	msgBadCiphertextOrContext = "The ciphertext failed to authenticate; the encryption context may not match the one used to encrypt."
)

// epochSeconds encodes a time the way AWS JSON protocols do: a JSON number
// of seconds since the Unix epoch (with millisecond fraction).
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Time(t).UnixMilli()) / 1000)
}

type keyMetadata struct {
	AWSAccountId          string
	Arn                   string
	CreationDate          epochSeconds
	CustomerMasterKeySpec string
	Description           string
	Enabled               bool
	EncryptionAlgorithms  []string
	KeyId                 string
	KeyManager            string
	KeySpec               string
	KeyState              string
	KeyUsage              string
	MultiRegion           bool
	Origin                string
}

func (s *Server) metadataLocked(k *key) keyMetadata {
	state := "Enabled"
	if !k.enabled {
		state = "Disabled"
	}
	return keyMetadata{
		AWSAccountId:          s.account,
		Arn:                   s.keyARN(k.id),
		CreationDate:          epochSeconds(k.created),
		CustomerMasterKeySpec: symmetricDefault,
		Description:           k.description,
		Enabled:               k.enabled,
		EncryptionAlgorithms:  []string{symmetricDefault},
		KeyId:                 k.id,
		KeyManager:            "CUSTOMER",
		KeySpec:               symmetricDefault,
		KeyState:              state,
		KeyUsage:              "ENCRYPT_DECRYPT",
		MultiRegion:           false,
		Origin:                "AWS_KMS",
	}
}

// checkAlgorithm accepts an absent or SYMMETRIC_DEFAULT encryption algorithm;
// all keys of this server are symmetric.
func checkAlgorithm(alg string) *apiError {
	if alg != "" && alg != symmetricDefault {
		return errInvalidKeyUsage("kmstest keys are symmetric and only support the SYMMETRIC_DEFAULT encryption algorithm")
	}
	return nil
}

func checkRecipient(r json.RawMessage) *apiError {
	if len(r) > 0 && string(r) != "null" {
		return errUnsupported("kmstest does not support the Recipient parameter")
	}
	return nil
}

// ---- CreateKey ----

type createKeyInput struct {
	Description           string
	KeyUsage              string
	KeySpec               string
	CustomerMasterKeySpec string
	Origin                string
	CustomKeyStoreId      string
	XksKeyId              string
	MultiRegion           bool
}

func (s *Server) opCreateKey(body []byte) (any, *apiError) {
	var in createKeyInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, errUnsupported("kmstest only supports KeyUsage ENCRYPT_DECRYPT")
	}
	for _, spec := range []string{in.KeySpec, in.CustomerMasterKeySpec} {
		if spec != "" && spec != symmetricDefault {
			return nil, errUnsupported("kmstest only supports KeySpec SYMMETRIC_DEFAULT")
		}
	}
	if in.Origin != "" && in.Origin != "AWS_KMS" {
		return nil, errUnsupported("kmstest only supports Origin AWS_KMS")
	}
	if in.CustomKeyStoreId != "" || in.XksKeyId != "" || in.MultiRegion {
		return nil, errUnsupported("kmstest does not support custom key stores or multi-Region keys")
	}
	material := make([]byte, keyMaterialSize)
	randRead(material)
	k := &key{id: newUUID(), material: material, enabled: true, created: time.Now(), description: in.Description}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addKeyLocked(k, "")
	return struct{ KeyMetadata keyMetadata }{s.metadataLocked(k)}, nil
}

// ---- DescribeKey ----

type describeKeyInput struct {
	KeyId string
}

func (s *Server) opDescribeKey(body []byte) (any, *apiError) {
	var in describeKeyInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, aerr := s.resolveLocked(in.KeyId, true)
	if aerr != nil {
		return nil, aerr
	}
	return struct{ KeyMetadata keyMetadata }{s.metadataLocked(k)}, nil
}

// ---- CreateAlias / ListAliases ----

type createAliasInput struct {
	AliasName   string
	TargetKeyId string
}

func (s *Server) opCreateAlias(body []byte) (any, *apiError) {
	var in createAliasInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.AliasName == "" {
		return nil, errValidation("AliasName is required")
	}
	k, aerr := s.resolveLocked(in.TargetKeyId, false)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkNewAliasLocked(in.AliasName); aerr != nil {
		return nil, aerr
	}
	s.aliases[in.AliasName] = &alias{name: in.AliasName, keyID: k.id, created: time.Now()}
	return struct{}{}, nil
}

type listAliasesInput struct {
	KeyId string
}

type aliasListEntry struct {
	AliasArn        string
	AliasName       string
	CreationDate    epochSeconds
	LastUpdatedDate epochSeconds
	TargetKeyId     string
}

// opListAliases returns all aliases (optionally only those of KeyId) in one
// page, sorted by name; Limit and Marker are ignored.
func (s *Server) opListAliases(body []byte) (any, *apiError) {
	var in listAliasesInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	filter := ""
	if in.KeyId != "" {
		k, aerr := s.resolveLocked(in.KeyId, false)
		if aerr != nil {
			return nil, aerr
		}
		filter = k.id
	}
	out := struct {
		Aliases   []aliasListEntry
		Truncated bool
	}{Aliases: []aliasListEntry{}}
	for _, a := range s.aliases {
		if filter != "" && a.keyID != filter {
			continue
		}
		out.Aliases = append(out.Aliases, aliasListEntry{
			AliasArn:        s.aliasARN(a.name),
			AliasName:       a.name,
			CreationDate:    epochSeconds(a.created),
			LastUpdatedDate: epochSeconds(a.created),
			TargetKeyId:     a.keyID,
		})
	}
	sort.Slice(out.Aliases, func(i, j int) bool { return out.Aliases[i].AliasName < out.Aliases[j].AliasName })
	return out, nil
}

// ---- GenerateDataKey / GenerateDataKeyWithoutPlaintext ----

type generateDataKeyInput struct {
	KeyId             string
	KeySpec           string
	NumberOfBytes     *int
	EncryptionContext map[string]string
	DryRun            bool
	Recipient         json.RawMessage
}

func (s *Server) generateDataKey(body []byte) (ks keySnapshot, blob, plaintext []byte, aerr *apiError) {
	var in generateDataKeyInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return ks, nil, nil, aerr
	}
	if aerr := checkRecipient(in.Recipient); aerr != nil {
		return ks, nil, nil, aerr
	}
	n := 0
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return ks, nil, nil, errValidation("Specify either KeySpec or NumberOfBytes, not both")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return ks, nil, nil, errValidation("KeySpec must be AES_256 or AES_128")
	case in.NumberOfBytes != nil:
		n = *in.NumberOfBytes
		if n < 1 || n > 1024 {
			return ks, nil, nil, errValidation("NumberOfBytes must be between 1 and 1024")
		}
	default:
		return ks, nil, nil, errValidation("Please specify either number of bytes or key spec.")
	}
	ks, aerr = s.lookupEnabled(in.KeyId)
	if aerr != nil {
		return ks, nil, nil, aerr
	}
	if in.DryRun {
		return ks, nil, nil, errDryRun()
	}
	plaintext = make([]byte, n)
	randRead(plaintext)
	blob, err := sealBlob(ks, in.EncryptionContext, plaintext)
	if err != nil {
		return ks, nil, nil, errInternal("encryption failed")
	}
	return ks, blob, plaintext, nil
}

func (s *Server) opGenerateDataKey(body []byte) (any, *apiError) {
	ks, blob, pt, aerr := s.generateDataKey(body)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		CiphertextBlob []byte
		Plaintext      []byte
		KeyId          string
	}{blob, pt, ks.arn}, nil
}

func (s *Server) opGenerateDataKeyWithoutPlaintext(body []byte) (any, *apiError) {
	ks, blob, _, aerr := s.generateDataKey(body)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		CiphertextBlob []byte
		KeyId          string
	}{blob, ks.arn}, nil
}

// ---- Encrypt ----

type encryptInput struct {
	KeyId               string
	Plaintext           []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
	DryRun              bool
}

func (s *Server) opEncrypt(body []byte) (any, *apiError) {
	var in encryptInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	if len(in.Plaintext) < 1 || len(in.Plaintext) > 4096 {
		return nil, errValidation("Plaintext must be between 1 and 4096 bytes")
	}
	if aerr := checkAlgorithm(in.EncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	ks, aerr := s.lookupEnabled(in.KeyId)
	if aerr != nil {
		return nil, aerr
	}
	if in.DryRun {
		return nil, errDryRun()
	}
	blob, err := sealBlob(ks, in.EncryptionContext, in.Plaintext)
	if err != nil {
		return nil, errInternal("encryption failed")
	}
	return struct {
		CiphertextBlob      []byte
		KeyId               string
		EncryptionAlgorithm string
	}{blob, ks.arn, symmetricDefault}, nil
}

// ---- Decrypt / ReEncrypt ----

// decryptBlob decrypts a blob produced by this server or registered with
// RegisterCiphertext. keyID, if not empty, must resolve to the blob's key.
func (s *Server) decryptBlob(blob []byte, keyID string, ec map[string]string) (keySnapshot, []byte, *apiError) {
	var (
		ks      keySnapshot
		foreign *foreignCT
		parsed  parsedBlob
		aerr    *apiError
	)
	s.mu.Lock()
	foreign = s.registered[string(blob)]
	if foreign != nil {
		ks, aerr = s.lookupLocked(foreign.keyID)
	} else {
		var ok bool
		parsed, ok = parseBlob(blob)
		if !ok || !keyIDRE.MatchString(parsed.keyID) {
			s.mu.Unlock()
			return ks, nil, errInvalidCiphertext("The ciphertext is invalid or was not produced by this KMS.")
		}
		ks, aerr = s.lookupLocked(parsed.keyID)
	}
	var want keySnapshot
	if aerr == nil && keyID != "" {
		want, aerr = s.lookupLocked(keyID)
	}
	s.mu.Unlock()
	if aerr != nil {
		return ks, nil, aerr
	}
	if keyID != "" && want.id != ks.id {
		return ks, nil, errIncorrectKey("The key ID in the request does not identify a KMS key that can perform this operation.")
	}
	if !ks.enabled {
		return ks, nil, errDisabled(ks.arn + " is disabled.")
	}
	if foreign != nil {
		if !ecEqual(foreign.ec, ec) {
			return ks, nil, errInvalidCiphertext(msgBadCiphertextOrContext)
		}
		return ks, append([]byte{}, foreign.plaintext...), nil
	}
	pt, ok := openBlob(ks, parsed, ec)
	if !ok {
		return ks, nil, errInvalidCiphertext(msgBadCiphertextOrContext)
	}
	return ks, pt, nil
}

type decryptInput struct {
	CiphertextBlob      []byte
	KeyId               string
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
	DryRun              bool
	Recipient           json.RawMessage
}

func (s *Server) opDecrypt(body []byte) (any, *apiError) {
	var in decryptInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := checkRecipient(in.Recipient); aerr != nil {
		return nil, aerr
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, errValidation("CiphertextBlob must not be empty")
	}
	if aerr := checkAlgorithm(in.EncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	ks, pt, aerr := s.decryptBlob(in.CiphertextBlob, in.KeyId, in.EncryptionContext)
	if aerr != nil {
		return nil, aerr
	}
	if in.DryRun {
		return nil, errDryRun()
	}
	return struct {
		KeyId               string
		Plaintext           []byte
		EncryptionAlgorithm string
	}{ks.arn, pt, symmetricDefault}, nil
}

type reEncryptInput struct {
	CiphertextBlob                 []byte
	SourceKeyId                    string
	SourceEncryptionContext        map[string]string
	SourceEncryptionAlgorithm      string
	DestinationKeyId               string
	DestinationEncryptionContext   map[string]string
	DestinationEncryptionAlgorithm string
	DryRun                         bool
}

func (s *Server) opReEncrypt(body []byte) (any, *apiError) {
	var in reEncryptInput
	if aerr := decodeInput(body, &in); aerr != nil {
		return nil, aerr
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, errValidation("CiphertextBlob must not be empty")
	}
	if aerr := checkAlgorithm(in.SourceEncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	if aerr := checkAlgorithm(in.DestinationEncryptionAlgorithm); aerr != nil {
		return nil, aerr
	}
	src, pt, aerr := s.decryptBlob(in.CiphertextBlob, in.SourceKeyId, in.SourceEncryptionContext)
	if aerr != nil {
		return nil, aerr
	}
	dst, aerr := s.lookupEnabled(in.DestinationKeyId)
	if aerr != nil {
		return nil, aerr
	}
	if in.DryRun {
		return nil, errDryRun()
	}
	blob, err := sealBlob(dst, in.DestinationEncryptionContext, pt)
	if err != nil {
		return nil, errInternal("encryption failed")
	}
	return struct {
		CiphertextBlob                 []byte
		KeyId                          string
		SourceKeyId                    string
		SourceEncryptionAlgorithm      string
		DestinationEncryptionAlgorithm string
	}{blob, dst.arn, src.arn, symmetricDefault, symmetricDefault}, nil
}
