// Package deploy holds no code: its tests check the deployment files
// beside it, the systemd units in systemd/ and the helm chart in
// helm/salvo (docs/operations.md, "systemd" and "Kubernetes (helm)").
package deploy
