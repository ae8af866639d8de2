package cinder

import (
	"fmt"
	"net/http"
)

// fakeAttachment is one Cinder attachment, made through the attachments API or by
// Nova on behalf of a server.
type fakeAttachment struct {
	id, volumeID, instance, host, mountpoint, status string
	hasConnection                                    bool
	// novaMapping is Nova's block device mapping of the volume on the instance:
	// set for attachments Nova made, not for ones made with the attachments API.
	novaMapping bool
}

func (f *fakeOpenStack) attachmentDoc(a *fakeAttachment) map[string]any {
	doc := f.template("attachment.json", "attachment")
	doc["id"], doc["status"], doc["volume_id"] = a.id, a.status, a.volumeID
	if a.instance != "" {
		doc["instance"] = a.instance
	}
	if !a.hasConnection {
		doc["connection_info"] = nil
		return doc
	}
	ci := dig(doc, "connection_info")
	ci["attachment_id"] = a.id
	ci["name"] = "volume-" + a.volumeID
	return doc
}

// markAttached shows a completed attachment in the volume, as Cinder does only
// once the attachment's status is "attached".
func (f *fakeOpenStack) markAttached(a *fakeAttachment) {
	a.status = "attached"
	v := f.volumes[a.volumeID]
	var server any
	if a.instance != "" {
		server = a.instance
	}
	list, _ := v["attachments"].([]any)
	v["attachments"] = append(list, map[string]any{
		"server_id": server, "attachment_id": a.id, "attached_at": "2024-05-01T10:20:00.000000",
		"host_name": a.host, "volume_id": a.volumeID, "device": a.mountpoint, "id": a.volumeID,
	})
	v["status"] = StatusInUse
}

func (f *fakeOpenStack) removeAttachment(a *fakeAttachment) {
	delete(f.attachments, a.id)
	v := f.volumes[a.volumeID]
	if v == nil {
		return
	}
	var kept []any
	list, _ := v["attachments"].([]any)
	for _, e := range list {
		if e.(map[string]any)["attachment_id"] != a.id {
			kept = append(kept, e)
		}
	}
	if kept == nil {
		kept = []any{}
	}
	v["attachments"] = kept
	v["status"] = StatusAvailable
	if len(kept) > 0 {
		v["status"] = StatusInUse
	}
}

func (f *fakeOpenStack) reserve(w http.ResponseWriter, volumeID string, nova bool) (map[string]any, bool) {
	v := f.volumes[volumeID]
	if v == nil {
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Volume %s could not be found.", volumeID))
		return nil, false
	}
	if v["multiattach"] != true && v["status"] != StatusAvailable {
		msg := fmt.Sprintf("Invalid volume: Volume %s status must be available or downloading to reserve, but the current status is %v.", volumeID, v["status"])
		if nova {
			msg = fmt.Sprintf("Invalid volume: volume %s status must be 'available'. Currently in '%v'", volumeID, v["status"])
		}
		f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", msg)
		return nil, false
	}
	return v, true
}

// cinderAttachments routes /attachments (microversion 3.27+).
func (f *fakeOpenStack) cinderAttachments(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	if !microversionAtLeast(r, 27) {
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
		return
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		req := dig(body, "attachment")
		if iu, has := req["instance_uuid"]; has && (iu == nil || iu == "") {
			f.writeError(w, http.StatusBadRequest, "error_bad_request.json",
				fmt.Sprintf("Invalid input for field/attribute instance_uuid. Value: %v. %v is not a 'uuid'", iu, iu))
			return
		}
		volumeID := fmt.Sprint(req["volume_uuid"])
		v, ok := f.reserve(w, volumeID, false)
		if !ok {
			return
		}
		conn := dig(req, "connector")
		a := &fakeAttachment{id: f.newID(), volumeID: volumeID, status: "reserved"}
		a.instance, _ = req["instance_uuid"].(string)
		v["status"] = StatusReserved
		if len(conn) > 0 {
			a.status, a.hasConnection = "attaching", true
			a.host, _ = conn["host"].(string)
			a.mountpoint, _ = conn["mountpoint"].(string)
			v["status"] = StatusAttaching
		}
		f.attachments[a.id] = a
		writeJSON(w, http.StatusOK, map[string]any{"attachment": f.attachmentDoc(a)})
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		list := []any{}
		for _, a := range f.attachments {
			if q := r.URL.Query().Get("volume_id"); q == "" || q == a.volumeID {
				list = append(list, f.attachmentDoc(a))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"attachments": list})
	case len(parts) == 1 && r.Method == http.MethodGet:
		if a := f.attachments[parts[0]]; a != nil {
			writeJSON(w, http.StatusOK, map[string]any{"attachment": f.attachmentDoc(a)})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("VolumeAttachment %s could not be found.", parts[0]))
	case len(parts) == 1 && r.Method == http.MethodDelete:
		a := f.attachments[parts[0]]
		if a == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("VolumeAttachment %s could not be found.", parts[0]))
			return
		}
		f.removeAttachment(a)
		writeJSON(w, http.StatusOK, map[string]any{"attachments": []any{}})
	case len(parts) == 2 && parts[1] == "action" && r.Method == http.MethodPost && microversionAtLeast(r, 44):
		a := f.attachments[parts[0]]
		if a == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("VolumeAttachment %s could not be found.", parts[0]))
			return
		}
		f.markAttached(a)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

// nova routes /servers/{id}/os-volume_attachments[/{volumeID}].
func (f *fakeOpenStack) nova(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	if len(parts) < 2 || parts[1] != "os-volume_attachments" {
		f.writeError(w, http.StatusNotFound, "error_nova_server_not_found.json", "The resource could not be found.")
		return
	}
	sid := parts[0]
	if !f.servers[sid] {
		f.writeError(w, http.StatusNotFound, "error_nova_server_not_found.json", fmt.Sprintf("Instance %s could not be found.", sid))
		return
	}
	find := func(volumeID string) *fakeAttachment {
		for _, a := range f.attachments {
			if a.instance == sid && a.volumeID == volumeID && a.novaMapping {
				return a
			}
		}
		return nil
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodPost:
		volumeID := fmt.Sprint(dig(body, "volumeAttachment")["volumeId"])
		v, ok := f.reserve(w, volumeID, true)
		if !ok {
			return
		}
		a := &fakeAttachment{id: f.newID(), volumeID: volumeID, instance: sid, host: "compute-1", mountpoint: "/dev/vdb", status: "reserved", hasConnection: true, novaMapping: true}
		f.attachments[a.id] = a
		v["status"] = StatusReserved
		fails := f.novaAttachFails
		f.later(volumeID, func(v map[string]any) {
			if fails {
				f.removeAttachment(a)
				return
			}
			f.markAttached(a)
		})
		writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": f.novaDoc(a)})
	case len(parts) == 2 && r.Method == http.MethodGet:
		list := []any{}
		for _, a := range f.attachments {
			if a.instance == sid && a.novaMapping {
				list = append(list, f.novaDoc(a))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"volumeAttachments": list})
	case len(parts) == 3 && r.Method == http.MethodGet:
		if a := find(parts[2]); a != nil {
			writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": f.novaDoc(a)})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_nova_server_not_found.json", fmt.Sprintf("volume_id not found: %s", parts[2]))
	case len(parts) == 3 && r.Method == http.MethodDelete:
		a := find(parts[2])
		if a == nil {
			f.writeError(w, http.StatusNotFound, "error_nova_server_not_found.json", fmt.Sprintf("volume_id not found: %s", parts[2]))
			return
		}
		// Like Nova, which asks Cinder to begin detaching: refused unless the
		// volume is in-use (a detach already under way, or an attach).
		if st := f.volumes[a.volumeID]["status"]; st != StatusInUse {
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", fmt.Sprintf(
				"Invalid input received: Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach. Currently: status: '%s'", st))
			return
		}
		f.volumes[a.volumeID]["status"] = StatusDetaching
		f.later(a.volumeID, func(map[string]any) { f.removeAttachment(a) })
		w.WriteHeader(http.StatusAccepted)
	default:
		f.writeError(w, http.StatusNotFound, "error_nova_server_not_found.json", "The resource could not be found.")
	}
}

func (f *fakeOpenStack) novaDoc(a *fakeAttachment) map[string]any {
	doc := f.template("nova_attachment.json", "volumeAttachment")
	doc["id"], doc["serverId"], doc["volumeId"], doc["device"] = a.volumeID, a.instance, a.volumeID, a.mountpoint
	return doc
}
