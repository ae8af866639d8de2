package cinder

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// cinder routes /volume/v3/{project}/... Locks are held by ServeHTTP.
func (f *fakeOpenStack) cinder(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	if len(parts) == 0 {
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
		return
	}
	switch parts[0] {
	case "limits":
		f.writeFixture(w, http.StatusOK, "limits.json")
	case "volumes":
		f.cinderVolumes(w, r, parts[1:], body)
	case "snapshots":
		f.cinderSnapshots(w, r, parts[1:], body)
	case "backups":
		f.cinderBackups(w, r, parts[1:], body)
	case "attachments":
		f.cinderAttachments(w, r, parts[1:], body)
	case "group_types":
		f.cinderGroupTypes(w, parts[1:])
	case "groups":
		f.cinderGroups(w, r, parts[1:], body)
	case "group_snapshots":
		f.cinderGroupSnapshots(w, r, parts[1:], body)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

func (f *fakeOpenStack) cinderVolumes(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		f.createVolume(w, dig(body, "volume"))
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		var items []map[string]any
		name, status := r.URL.Query().Get("name"), statusMatcher(r.URL.Query().Get("status"))
		for _, id := range f.order {
			if v := f.volumes[id]; v != nil && (name == "" || v["name"] == name) && status(v["status"].(string)) {
				items = append(items, v)
			}
		}
		f.writePage(w, r, "volumes", items)
	case len(parts) == 1 && r.Method == http.MethodGet:
		f.tick(parts[0])
		v := f.volumes[parts[0]]
		if v == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %s could not be found.", parts[0]))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"volume": v})
	case len(parts) == 1 && r.Method == http.MethodDelete:
		f.deleteVolume(w, parts[0])
	case len(parts) == 2 && parts[1] == "action" && r.Method == http.MethodPost:
		f.volumeAction(w, r, parts[0], body)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

func (f *fakeOpenStack) createVolume(w http.ResponseWriter, req map[string]any) {
	size, _ := req["size"].(float64)
	switch {
	case size > 100:
		f.writeError(w, http.StatusRequestEntityTooLarge, "error_over_limit.json", "")
		return
	case req["availability_zone"] == "nowhere":
		f.writeError(w, http.StatusBadRequest, "error_bad_request.json", "")
		return
	case req["volume_type"] == "unknown":
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "Volume type with name unknown could not be found.")
		return
	}
	v := f.template("volume.json", "volume")
	id := f.newID()
	v["id"], v["name"], v["size"], v["status"] = id, req["name"], size, StatusCreating
	if t, ok := req["volume_type"].(string); ok {
		v["volume_type"] = t
	}
	if md, ok := req["metadata"].(map[string]any); ok {
		v["metadata"] = md
	}
	if m, ok := req["multiattach"].(bool); ok {
		v["multiattach"] = m
	}
	f.volumes[id] = v
	f.order = append(f.order, id)
	final := f.createStatus
	f.later(id, func(v map[string]any) { v["status"] = final })
	writeJSON(w, http.StatusAccepted, map[string]any{"volume": v})
}

func (f *fakeOpenStack) deleteVolume(w http.ResponseWriter, id string) {
	v := f.volumes[id]
	if v == nil {
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %s could not be found.", id))
		return
	}
	for _, s := range f.snapshots {
		if s["volume_id"] == id {
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid volume: Volume still has 1 dependent snapshots.")
			return
		}
	}
	if g, _ := v["group_id"].(string); g != "" {
		f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.")
		return
	}
	switch v["status"] { // Cinder's own list
	case StatusAvailable, StatusError, StatusErrorRestoring, StatusErrorExtending, "error_managing":
	default:
		f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "")
		return
	}
	delete(f.volumes, id)
	delete(f.pending, id)
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeOpenStack) volumeAction(w http.ResponseWriter, r *http.Request, id string, body map[string]any) {
	v := f.volumes[id]
	if v == nil {
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %s could not be found.", id))
		return
	}
	prev := v["status"]
	switch {
	case body["os-extend"] != nil:
		newSize := dig(body, "os-extend")["new_size"].(float64)
		if prev == StatusInUse && !microversionAtLeast(r, 42) {
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid volume: Volume status must be 'available' to extend, but current status is: in-use.")
			return
		}
		if prev != StatusInUse && prev != StatusAvailable {
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", fmt.Sprintf("Invalid volume: Volume status must be 'available' or 'in-use' to extend, but current status is: %s.", prev))
			return
		}
		fail := dig(v, "metadata")["fail"] == "extend"
		v["status"] = StatusExtending
		f.later(id, func(v map[string]any) {
			if fail {
				v["status"] = StatusErrorExtending
				return
			}
			v["size"], v["status"] = newSize, prev
		})
	case body["os-reset_status"] != nil:
		if dig(v, "metadata")["fail"] == "reset" {
			f.writeError(w, http.StatusForbidden, "error_bad_request.json", "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.")
			return
		}
		v["status"] = dig(body, "os-reset_status")["status"]
	case body["os-retype"] != nil:
		req := dig(body, "os-retype")
		newType := req["new_type"].(string)
		if req["migration_policy"] != "on-demand" {
			f.writeError(w, http.StatusBadRequest, "error_bad_request.json", "Invalid input received: migration_policy must be on-demand for this test.")
			return
		}
		v["status"] = StatusRetyping
		f.later(id, func(v map[string]any) {
			v["status"] = prev
			if newType != "no-valid-host" {
				v["volume_type"] = newType
			}
		})
	default:
		f.writeError(w, http.StatusBadRequest, "error_bad_request.json", "Invalid input received: unknown action.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeOpenStack) cinderSnapshots(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		req := dig(body, "snapshot")
		vol := f.volumes[fmt.Sprint(req["volume_id"])]
		if vol == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %v could not be found.", req["volume_id"]))
			return
		}
		if vol["status"] == StatusInUse && req["force"] != true {
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid volume: Volume status must be available, but current status is: in-use.")
			return
		}
		s := f.template("snapshot.json", "snapshot")
		s["id"], s["name"], s["volume_id"], s["size"] = f.newID(), req["name"], req["volume_id"], vol["size"]
		if md, ok := req["metadata"].(map[string]any); ok {
			s["metadata"] = md
		}
		f.snapshots[s["id"].(string)] = s
		f.later(s["id"].(string), func(s map[string]any) { s["status"] = StatusAvailable })
		writeJSON(w, http.StatusAccepted, map[string]any{"snapshot": s})
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		f.writePage(w, r, "snapshots", filterBy(f.snapshots, r))
	case len(parts) == 1 && r.Method == http.MethodGet:
		f.tick(parts[0])
		if s := f.snapshots[parts[0]]; s != nil {
			writeJSON(w, http.StatusOK, map[string]any{"snapshot": s})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Snapshot %s could not be found.", parts[0]))
	case len(parts) == 1 && r.Method == http.MethodDelete:
		if f.snapshots[parts[0]] == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Snapshot %s could not be found.", parts[0]))
			return
		}
		delete(f.snapshots, parts[0])
		w.WriteHeader(http.StatusAccepted)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

func (f *fakeOpenStack) cinderBackups(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		req := dig(body, "backup")
		vol := f.volumes[fmt.Sprint(req["volume_id"])]
		if vol == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %v could not be found.", req["volume_id"]))
			return
		}
		if req["metadata"] != nil && !microversionAtLeast(r, 43) {
			f.writeError(w, http.StatusBadRequest, "error_bad_request.json", "Invalid input for field/attribute backup. Additional properties are not allowed ('metadata' was unexpected)")
			return
		}
		b := f.template("backup.json", "backup")
		b["id"], b["name"], b["volume_id"], b["size"] = f.newID(), req["name"], req["volume_id"], vol["size"]
		if md, ok := req["metadata"].(map[string]any); ok {
			b["metadata"] = md
		}
		f.backups[b["id"].(string)] = b
		f.later(b["id"].(string), func(b map[string]any) { b["status"] = StatusAvailable })
		short := f.template("backup_create.json", "backup")
		short["id"], short["name"] = b["id"], b["name"]
		writeJSON(w, http.StatusAccepted, map[string]any{"backup": short})
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		f.writePage(w, r, "backups", filterBy(f.backups, r))
	case len(parts) == 1 && r.Method == http.MethodGet:
		f.tick(parts[0])
		if b := f.backups[parts[0]]; b != nil {
			writeJSON(w, http.StatusOK, map[string]any{"backup": b})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Backup %s could not be found.", parts[0]))
	case len(parts) == 1 && r.Method == http.MethodDelete:
		if f.backups[parts[0]] == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Backup %s could not be found.", parts[0]))
			return
		}
		delete(f.backups, parts[0])
		w.WriteHeader(http.StatusAccepted)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

// statusMatcher reads a volume listing's status filter as Cinder does: a list
// literal matches any of its items, anything else exactly; empty matches all.
func statusMatcher(filter string) func(string) bool {
	var set []string
	if strings.HasPrefix(filter, "[") {
		if err := json.Unmarshal([]byte(filter), &set); err != nil {
			return func(string) bool { return false }
		}
	} else if filter != "" {
		set = []string{filter}
	}
	return func(s string) bool { return filter == "" || slices.Contains(set, s) }
}

// filterBy applies the name and volume_id filters of a snapshot or backup listing.
func filterBy(all map[string]map[string]any, r *http.Request) []map[string]any {
	q := r.URL.Query()
	var out []map[string]any
	for _, it := range all {
		if (q.Get("name") == "" || it["name"] == q.Get("name")) && (q.Get("volume_id") == "" || it["volume_id"] == q.Get("volume_id")) {
			out = append(out, it)
		}
	}
	return out
}

func (f *fakeOpenStack) writePage(w http.ResponseWriter, r *http.Request, kind string, items []map[string]any) {
	doc := page(r, kind, items)
	if doc == nil {
		f.writeError(w, http.StatusBadRequest, "error_bad_request.json",
			fmt.Sprintf("Invalid input received: marker [%s] not found", strings.TrimSpace(r.URL.Query().Get("marker"))))
		return
	}
	writeJSON(w, http.StatusOK, doc)
}
