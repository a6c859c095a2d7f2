// Package nodeset handles clush-style host sets: it folds a host list into
// ranges ("10.0.0.[1-5],web-[01-03]") for display. It uses the standard
// library only.
package nodeset
