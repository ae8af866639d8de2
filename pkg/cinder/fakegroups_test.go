package cinder

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The fake's generic volume groups and group snapshots (Cinder's shapes, with the
// states changing at once). groupStatus and groupSnapshotStatus are what a new
// group and group snapshot become: available by default, error to model a backend
// that fails them.

func (f *fakeOpenStack) cinderGroupTypes(w http.ResponseWriter, parts []string) {
	generic := map[string]any{"id": "0000000a-0000-4000-8000-00000000000a", "name": "generic", "group_specs": map[string]any{}, "is_public": true}
	switch {
	case len(parts) == 0:
		writeJSON(w, http.StatusOK, map[string]any{"group_types": []any{generic}})
	case parts[0] == "default" || parts[0] == generic["id"]:
		writeJSON(w, http.StatusOK, map[string]any{"group_type": generic})
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Group type %s could not be found.", parts[0]))
	}
}

func (f *fakeOpenStack) cinderGroups(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		req := dig(body, "group")
		g := map[string]any{"id": f.newID(), "name": req["name"], "description": req["description"], "status": f.groupStatus, "group_type": req["group_type"],
			"volume_types": req["volume_types"], "volumes": []string{}, "created_at": time.Now().UTC().Format("2006-01-02T15:04:05.000000")}
		f.groups[g["id"].(string)] = g
		writeJSON(w, http.StatusAccepted, map[string]any{"group": map[string]any{"id": g["id"], "name": g["name"]}})
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"groups": filterBy(f.groups, r)})
	case len(parts) == 1 && r.Method == http.MethodGet:
		if g := f.groups[parts[0]]; g != nil {
			writeJSON(w, http.StatusOK, map[string]any{"group": g})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Group %s could not be found.", parts[0]))
	case len(parts) == 1 && r.Method == http.MethodPut:
		g := f.groups[parts[0]]
		if g == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Group %s could not be found.", parts[0]))
			return
		}
		req := dig(body, "group")
		if name, ok := req["name"]; ok {
			g["name"] = name
		}
		vols := g["volumes"].([]string)
		for _, id := range strings.Split(fmt.Sprint(req["add_volumes"]), ",") {
			if v := f.volumes[id]; v != nil {
				if v["status"] != StatusAvailable && v["status"] != StatusInUse {
					f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", fmt.Sprintf("Invalid volume: Cannot add volume %s to group %s because volume is in an invalid state: %s.", id, parts[0], v["status"]))
					return
				}
				vols = append(vols, id)
				v["group_id"] = parts[0]
			}
		}
		for _, id := range strings.Split(fmt.Sprint(req["remove_volumes"]), ",") {
			vols = slices.DeleteFunc(vols, func(v string) bool { return v == id })
			if v := f.volumes[id]; v != nil {
				v["group_id"] = ""
			}
		}
		g["volumes"] = vols
		writeJSON(w, http.StatusAccepted, map[string]any{"group": map[string]any{"id": g["id"]}})
	case len(parts) == 2 && parts[1] == "action" && r.Method == http.MethodPost:
		g := f.groups[parts[0]]
		switch {
		case g == nil:
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("Group %s could not be found.", parts[0]))
		case len(g["volumes"].([]string)) > 0:
			f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid group: Group still contains volumes. The delete-volumes flag is required to delete it.")
		default:
			for _, gs := range f.groupSnapshots {
				if gs["group_id"] == parts[0] {
					f.writeError(w, http.StatusBadRequest, "error_invalid_volume.json", "Invalid group: Group has existing snapshots.")
					return
				}
			}
			delete(f.groups, parts[0])
			w.WriteHeader(http.StatusAccepted)
		}
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

func (f *fakeOpenStack) cinderGroupSnapshots(w http.ResponseWriter, r *http.Request, parts []string, body map[string]any) {
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		req := dig(body, "group_snapshot")
		g := f.groups[fmt.Sprint(req["group_id"])]
		gs := map[string]any{"id": f.newID(), "name": req["name"], "group_id": req["group_id"], "status": f.groupSnapshotStatus,
			"created_at": time.Now().UTC().Format("2006-01-02T15:04:05.000000")}
		f.groupSnapshots[gs["id"].(string)] = gs
		for _, v := range g["volumes"].([]string) { // Cinder names the members after it
			s := f.template("snapshot.json", "snapshot")
			s["id"], s["name"], s["volume_id"], s["size"], s["status"], s["group_snapshot_id"] = f.newID(), req["name"], v, f.volumes[v]["size"], f.groupSnapshotStatus, gs["id"]
			f.snapshots[s["id"].(string)] = s
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"group_snapshot": map[string]any{"id": gs["id"], "name": gs["name"]}})
	case len(parts) == 1 && parts[0] == "detail" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"group_snapshots": filterBy(f.groupSnapshots, r)})
	case len(parts) == 1 && r.Method == http.MethodGet:
		if gs := f.groupSnapshots[parts[0]]; gs != nil {
			writeJSON(w, http.StatusOK, map[string]any{"group_snapshot": gs})
			return
		}
		f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("GroupSnapshot %s could not be found.", parts[0]))
	case len(parts) == 1 && r.Method == http.MethodDelete:
		if f.groupSnapshots[parts[0]] == nil {
			f.writeError(w, http.StatusNotFound, "error_not_found.json", fmt.Sprintf("GroupSnapshot %s could not be found.", parts[0]))
			return
		}
		for id, s := range f.snapshots {
			if s["group_snapshot_id"] == parts[0] {
				delete(f.snapshots, id)
			}
		}
		delete(f.groupSnapshots, parts[0])
		w.WriteHeader(http.StatusAccepted)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}
