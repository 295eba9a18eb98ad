// serf_keyring.go: gossip encryption, the keys that seal every gossip message.
//
// Consul encrypts its gossip (UDP packets and TCP streams of the LAN and
// WAN pools) with a shared symmetric key given by -encrypt (base64 of 16,
// 24 or 32 bytes: AES-128, -192 or -256; `miniconsul keygen` makes a
// 32-byte one). A keyring holds several keys so that the key can be
// rotated without a flag day: install a new key everywhere, make it the
// primary (the one that seals), then remove the old one. A message is
// opened with whichever key fits.
//
// The sealed form of a message (AES-GCM, NIST SP 800-38D):
//
//	[version 1][12-byte random nonce][ciphertext, with its 16-byte tag]
//
// with the pool's label ("lan" or "wan") as additional data, so a message
// of one pool is not accepted by the other. A message too short, of an
// unknown version, or that no key opens is refused with an error (the
// gossip layer drops and counts it): never a panic, never an allocation
// beyond the message's own size.
//
// The keyring is kept in <data_dir>/serf/local.keyring for the LAN pool
// and remote.keyring for the WAN pool (Consul's names), a JSON list of
// base64 keys, primary first, written atomically, so that a rotation
// survives a restart; the -encrypt key only seeds a keyring that does not
// exist yet, as Consul's does.
//
// Across the pool (Serf's key manager): /v1/operator/keyring asks every
// member of a pool (on a server the WAN pool, then the LAN pool) with a
// gossip query (swim_serf.go) named as Serf's internal key queries,
// _serf_list-keys, -install-key, -use-key and -remove-key, whose payload
// is the key. Each member applies it to its own keyring (which it
// persists) and answers with a keyAnswer: whether it succeeded, an error
// message, and for a list its keys and its primary. The source counts them
// into Consul's KeyringResponse, and any member that failed, or did not
// answer before the timeout, makes the operation fail with Consul's
// messages: "<dc> (LAN) error: n/N nodes reported failure" (or "WAN
// error: …") then one line per member.
//
// Concurrency: mu guards the keys; sealing and opening take it for reading.
package main

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

const (
	sealVersion  = 1
	sealNonceLen = 12
	sealOverhead = 1 + sealNonceLen + 16
)

var (
	errNoKeyOpens     = errors.New("no installed key decrypts the message")
	errSealedTooShort = errors.New("encrypted message too short")
)

// keyring is the set of gossip keys of one pool.
type keyring struct {
	label []byte // the pool's name, authenticated with every message
	path  string // where the keyring is kept; "" keeps it in memory only

	mu    sync.RWMutex
	keys  [][]byte      // keys[0] is the primary
	aeads []cipher.AEAD // one per key, same order
}

// decodeGossipKey decodes a base64 key and checks its length.
func decodeGossipKey(s string) ([]byte, error) {
	if err := cfgCheckGossipKey(s); err != nil || s == "" {
		return nil, cmp.Or(err, errors.New("empty gossip encryption key"))
	}
	return base64.StdEncoding.DecodeString(s)
}

// openKeyring loads the keyring at path, or creates it from the initial
// key when the file does not exist. It returns nil, nil when there is no
// keyring and no key: gossip in the clear.
func openKeyring(label, path, initial string) (*keyring, error) {
	k := &keyring{label: []byte(label), path: path}
	var stored []string
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &stored); err != nil {
				return nil, fmt.Errorf("keyring %s: %w", path, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	if len(stored) == 0 {
		if initial == "" {
			return nil, nil
		}
		stored = []string{initial}
	}
	for _, s := range stored {
		key, err := decodeGossipKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
		if err := k.addLocked(key); err != nil {
			return nil, err
		}
	}
	return k, k.saveLocked()
}

func (k *keyring) addLocked(key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.keys = append(k.keys, slices.Clone(key))
	k.aeads = append(k.aeads, aead)
	return nil
}

func (k *keyring) index(key []byte) int {
	return slices.IndexFunc(k.keys, func(x []byte) bool { return string(x) == string(key) })
}

// seal encrypts a message with the primary key.
func (k *keyring) seal(plain []byte) ([]byte, error) {
	k.mu.RLock()
	aead := k.aeads[0]
	k.mu.RUnlock()
	out := make([]byte, 1+sealNonceLen, sealOverhead+len(plain))
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:1+sealNonceLen], plain, k.label), nil
}

// open decrypts a sealed message with whichever installed key fits.
func (k *keyring) open(msg []byte) ([]byte, error) {
	if len(msg) < sealOverhead {
		return nil, errSealedTooShort
	}
	if msg[0] != sealVersion {
		return nil, fmt.Errorf("unknown encryption version %d", msg[0])
	}
	nonce, sealed := msg[1:1+sealNonceLen], msg[1+sealNonceLen:]
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, aead := range k.aeads {
		if plain, err := aead.Open(nil, nonce, sealed, k.label); err == nil {
			return plain, nil
		}
	}
	return nil, errNoKeyOpens
}

// install adds a key, which opens messages at once but seals none until
// it is made the primary (Consul's `keyring -install`).
func (k *keyring) install(s string) error {
	key, err := decodeGossipKey(s)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.index(key) >= 0 {
		return nil
	}
	if err := k.addLocked(key); err != nil {
		return err
	}
	return k.saveLocked()
}

// use makes an installed key the primary (`keyring -use`).
func (k *keyring) use(s string) error {
	key, err := decodeGossipKey(s)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.index(key)
	if i < 0 {
		return errors.New("Requested key is not in the keyring")
	}
	k.keys[0], k.keys[i] = k.keys[i], k.keys[0]
	k.aeads[0], k.aeads[i] = k.aeads[i], k.aeads[0]
	return k.saveLocked()
}

// remove drops a key other than the primary (`keyring -remove`).
func (k *keyring) remove(s string) error {
	key, err := decodeGossipKey(s)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch i := k.index(key); {
	case i < 0:
		return nil
	case i == 0:
		return errors.New("Removing the primary key is not allowed")
	default:
		k.keys = slices.Delete(k.keys, i, i+1)
		k.aeads = slices.Delete(k.aeads, i, i+1)
	}
	return k.saveLocked()
}

// list returns the keys, base64, primary first.
func (k *keyring) list() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]string, len(k.keys))
	for i, key := range k.keys {
		out[i] = base64.StdEncoding.EncodeToString(key)
	}
	return out
}

func (k *keyring) saveLocked() error {
	if k.path == "" {
		return nil
	}
	var keys []string
	for _, key := range k.keys {
		keys = append(keys, base64.StdEncoding.EncodeToString(key))
	}
	b, _ := json.Marshal(keys)
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(k.path, k.path+".tmp", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// keygenCommand prints a new random 32-byte gossip key (`consul keygen`).
func keygenCommand(stdout, stderr io.Writer) int {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintln(stderr, "Error reading random data:", err)
		return 1
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key))
	return 0
}

// --- across the pool: Serf's key manager ---

// Serf's internal query names for the keyring operations.
const (
	keyQueryList    = "_serf_list-keys"
	keyQueryInstall = "_serf_install-key"
	keyQueryUse     = "_serf_use-key"
	keyQueryRemove  = "_serf_remove-key"
)

// keyAnswer is one member's answer to a key query (Serf's nodeKeyResponse).
type keyAnswer struct {
	Result     bool
	Message    string
	Keys       []string // list only
	PrimaryKey string   // list only
}

// answerKeyQuery applies a key query to this member's keyring (nil: the pool
// is not encrypted) and returns the encoded answer; false for a query that
// is not a key query.
func answerKeyQuery(k *keyring, name string, payload []byte) ([]byte, bool) {
	var a keyAnswer
	var err error
	switch {
	case name != keyQueryList && name != keyQueryInstall && name != keyQueryUse && name != keyQueryRemove:
		return nil, false
	case k == nil && name == keyQueryList:
		err = errors.New("Keyring is empty (encryption not enabled)")
	case k == nil:
		err = errors.New("No keyring to modify (encryption not enabled)")
	case name == keyQueryList:
		a.Keys = k.list()
		a.PrimaryKey = a.Keys[0]
	case name == keyQueryInstall:
		err = k.install(string(payload))
	case name == keyQueryUse:
		err = k.use(string(payload))
	case name == keyQueryRemove:
		err = k.remove(string(payload))
	}
	a.Result = err == nil
	if err != nil {
		a.Message = err.Error()
	}
	return a.encode(), true
}

// encode: [result 0|1][message][key count][keys...][primary key], strings
// length-prefixed as in swim_wire.go.
func (a keyAnswer) encode() []byte {
	b := appendString(appendBool(nil, a.Result), a.Message)
	b = binary.AppendUvarint(b, uint64(len(a.Keys)))
	for _, key := range a.Keys {
		b = appendString(b, key)
	}
	return appendString(b, a.PrimaryKey)
}

// decodeKeyAnswer decodes an answer, bounded by its own length like every
// gossip decoder.
func decodeKeyAnswer(b []byte) (keyAnswer, error) {
	r := newSwimReader(b)
	a := keyAnswer{Result: r.bool(), Message: string(r.bytesMax(swimMaxUserEvent))}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every key takes at least a byte
		r.fail(errSwimTruncated)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		a.Keys = append(a.Keys, r.string())
	}
	a.PrimaryKey = r.string()
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("keyring answer: trailing bytes"))
	}
	return a, r.err
}

// KeyringResponse is one pool's answer to /v1/operator/keyring, in
// Consul's shape.
type KeyringResponse struct {
	WAN         bool
	Datacenter  string
	Segment     string
	Messages    map[string]string // member → what it said, when it failed
	Keys        map[string]int    // key → the members that have it installed
	PrimaryKeys map[string]int    // key → the members that seal with it
	NumNodes    int
}

// poolKeyringOp runs a key query across the pool and counts the answers.
// The error, when some member failed or did not answer, is Consul's
// ("n/N nodes reported failure", or "n/N nodes reported success" when
// members did not answer); the response is filled in either way.
func poolKeyringOp(ctx context.Context, pool *gossipPool, dc, query, key string) (*KeyringResponse, error) {
	res, err := pool.Query(ctx, query, []byte(key))
	if err != nil {
		return nil, err
	}
	out := &KeyringResponse{WAN: pool.cfg.Pool == "wan", Datacenter: dc, Messages: map[string]string{}, Keys: map[string]int{},
		PrimaryKeys: map[string]int{}, NumNodes: res.NumNodes}
	failed := 0
	for from, b := range res.Answers {
		a, err := decodeKeyAnswer(b)
		if err != nil {
			a = keyAnswer{Message: "malformed answer: " + err.Error()}
		}
		if !a.Result {
			failed++
			out.Messages[from] = a.Message
			continue
		}
		for _, k := range a.Keys {
			out.Keys[k]++
		}
		if a.PrimaryKey != "" {
			out.PrimaryKeys[a.PrimaryKey]++
		}
	}
	switch {
	case failed > 0:
		return out, fmt.Errorf("%d/%d nodes reported failure", failed, out.NumNodes)
	case len(res.Answers) < out.NumNodes:
		return out, fmt.Errorf("%d/%d nodes reported success", len(res.Answers), out.NumNodes)
	}
	return out, nil
}
