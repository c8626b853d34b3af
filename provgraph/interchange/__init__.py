"""W3C PROV in and out: `prov export` and `prov import`."""
