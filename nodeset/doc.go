// Package nodeset handles clush-style host sets. Expand reads one
// ("web-[01-20].dc1,10.0.[0-3].[1-254]!10.0.0.1") into its hosts, with a
// ceiling on how many it makes; Set and Exclude take hosts away (clush
// -x); Fold writes a host list back as ranges ("10.0.0.[1-5],web-[01-03]")
// for summaries, in a form Expand reads. The syntax is in docs/ssh.md,
// "Nodesets". It uses the standard library only.
package nodeset
