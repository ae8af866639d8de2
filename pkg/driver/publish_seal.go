package driver

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// Cinder's connection info can carry credentials: iSCSI CHAP passwords, a cephx
// keyring for RBD. The publish context ends up in VolumeAttachment.status, readable by
// anyone who may read VolumeAttachments, and in the sidecars' and the driver's logs. So
// the controller takes every credential field out of the connection data and seals
// them, AES-256-GCM, with a key only the controller and node pods hold (the chart's
// publish-key Secret, --publish-key-file); the node opens them just before it connects.
// The node plugin still needs no cloud credentials.

// minPublishKeyLen is the least length of the key file's content; the AES key is its
// SHA-256, so any string of random characters will do.
const minPublishKeyLen = 32

// secretFieldRE matches the connection data fields that are credentials.
var secretFieldRE = regexp.MustCompile(`(?i)(pass(word|phrase)?|secret|keyring|key$|token|credential)`)

// isSecretField reports whether a connection data field holds a credential.
func isSecretField(name string) bool { return secretFieldRE.MatchString(name) }

// sealer seals and opens the credentials of one volume's connection data.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	key = bytes.TrimSpace(key)
	if len(key) < minPublishKeyLen {
		return nil, fmt.Errorf("the publish key has %d characters; it needs at least %d random ones", len(key), minPublishKeyLen)
	}
	sum := sha256.Sum256(key)
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// aad binds a sealed value to its volume: it cannot be replayed into another's context.
func sealAAD(volumeID string) []byte { return []byte("cinder-csi publish context v1 " + volumeID) }

func (s *sealer) seal(volumeID string, fields map[string]any) (string, error) {
	plain, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, sealAAD(volumeID))), nil
}

func (s *sealer) open(volumeID, sealed string) (map[string]any, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errors.New("not a sealed value")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], sealAAD(volumeID))
	if err != nil {
		return nil, errors.New("it does not open with this key")
	}
	return decodeJSONObject(plain)
}

func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // LUNs and ports stay exactly as Cinder sent them
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// splitSecrets returns the connection data without its credential fields, and those.
func splitSecrets(data map[string]any) (public, secret map[string]any) {
	public, secret = map[string]any{}, map[string]any{}
	for k, v := range data {
		if isSecretField(k) {
			secret[k] = v
		} else {
			public[k] = v
		}
	}
	return public, secret
}

// connectionContext writes Cinder's connection data into the publish context, with its
// credentials sealed. Without a publish key, connection data with credentials is
// refused: it would reach VolumeAttachment.status in clear text.
func (d *Driver) connectionContext(pc map[string]string, volumeID, attachmentID string, data map[string]any) error {
	public, secret := splitSecrets(data)
	if len(secret) > 0 {
		if d.sealer == nil {
			return failedPrecondition("attachment %s of volume %s carries credentials (%v) that would reach VolumeAttachment.status in clear text; give the controller and node plugins a shared key with --publish-key-file (the chart's publish-key Secret)",
				attachmentID, volumeID, slices.Sorted(maps.Keys(secret)))
		}
		sealed, err := d.sealer.seal(volumeID, secret)
		if err != nil {
			return internal("sealing the credentials of attachment %s: %v", attachmentID, err)
		}
		pc[pcSealedConnectionData] = sealed
	}
	raw, err := json.Marshal(public)
	if err != nil {
		return internal("encoding connection info of attachment %s: %v", attachmentID, err)
	}
	pc[pcConnectionData] = string(raw)
	return nil
}

// unsealConnection returns the handover with the sealed credentials put back into
// the connection data, for the node's connectors. It is never logged.
func (d *Driver) unsealConnection(volumeID string, h handover) (handover, error) {
	if h.sealed == "" {
		return h, nil
	}
	if d.sealer == nil {
		return h, failedPrecondition("the publish context of volume %s has sealed credentials and this node plugin has no --publish-key-file: give it the controller's publish key", volumeID)
	}
	secret, err := d.sealer.open(volumeID, h.sealed)
	if err != nil {
		return h, failedPrecondition("the sealed credentials of volume %s cannot be opened: %v; the controller and node plugins must share one publish key (rotating it needs the volumes re-attached)", volumeID, err)
	}
	data := maps.Clone(h.att.Data)
	if data == nil {
		data = map[string]any{}
	}
	maps.Copy(data, secret)
	h.att.Data, h.sealed = data, ""
	return h, nil
}
