"""The journal (records kept in git refs), their schema and quarantine, and
the replay that turns records into the PROV graph an index holds."""
