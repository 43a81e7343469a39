/*
 * schema.h - the sandbox-run schema as static C tables (schema.c), read by
 * the decoder (decode.c).
 *
 * Every object type, field and enum comes from schema_gen.h, which
 * schema/gen.lua generates from schema/sandbox_runs.schema.json (the seed's
 * schema and what today's server added: runner_jobs, status_v2, the run
 * status enums).  Every field name and enum value has a slot in the
 * decoder's key table (a Lua table of interned strings): a type's fields
 * occupy slots key .. key + nfields - 1, an enum's values slots
 * key .. key + nvalues - 1.
 */
#ifndef NUON_SCHEMA_H
#define NUON_SCHEMA_H

#include "nuon.h"
#include "schema_gen.h"

/* What a field holds.  Every kind also admits JSON null (= absent). */
enum nuon_kind {
  NUON_K_STRING,  /* string */
  NUON_K_INTEGER, /* integer literal within int64 */
  NUON_K_BOOLEAN, /* true / false */
  NUON_K_OBJECT,  /* object of type `ref` */
  NUON_K_ARRAY,   /* array of objects of type `ref` */
  NUON_K_MAP,     /* object of strings (a null value leaves the key out) */
  NUON_K_ENUM,    /* string, checked against enum `ref` */
  NUON_K_STRINGS  /* array of strings */
};

/* Object types (NUON_T_RUN, the run, first) and enums, indexes into
 * nuon_schema_types and nuon_schema_enums: from the generated lists. */
#define NUON_TYPE_ID(id, schema_name) NUON_T_##id,
enum nuon_type_id { NUON_SCHEMA_TYPES(NUON_TYPE_ID) NUON_NTYPES };
#define NUON_ENUM_ID(id, name) NUON_E_##id,
enum nuon_enum_id { NUON_SCHEMA_ENUMS(NUON_ENUM_ID) NUON_NENUMS };

/* No type has more fields than this (seen-field sets are 64-bit masks). */
#define NUON_SCHEMA_MAX_FIELDS 32
/* Key-table slots are 1 .. nuon_schema_nkeys <= NUON_SCHEMA_MAX_KEYS. */
#define NUON_SCHEMA_MAX_KEYS 512

typedef struct nuon_field {
  const char *name;
  const char *pat;    /* the member as compact JSON writes it: "name": (len + 3 bytes) */
  unsigned char len;  /* strlen(name) */
  unsigned char kind; /* enum nuon_kind */
  unsigned char ref;  /* type id (OBJECT, ARRAY) or enum id (ENUM) */
} nuon_field;

typedef struct nuon_type {
  const char *name; /* JSON Schema name, e.g. "app.RunnerJob" */
  const nuon_field *fields;
  int nfields;
  int key; /* key-table slot of fields[0] */
} nuon_type;

typedef struct nuon_enum_value {
  const char *s;
  unsigned char len;
  const char *since; /* provenance: "seed", "added 2025-06", "seed, removed 2025-06" */
} nuon_enum_value;

typedef struct nuon_enum {
  const char *name; /* as in warnings and errors, e.g. "runner_job_status" */
  const nuon_enum_value *values;
  int nvalues;
  int key; /* key-table slot of values[0] */
} nuon_enum;

NUON_INTERNAL extern const nuon_type nuon_schema_types[NUON_NTYPES];
NUON_INTERNAL extern const nuon_enum nuon_schema_enums[NUON_NENUMS];
/* Number of key-table slots (they are 1 .. nuon_schema_nkeys); the field
 * names come first, in slots 1 .. nuon_schema_nfield_keys. */
NUON_INTERNAL extern const int nuon_schema_nkeys;
NUON_INTERNAL extern const int nuon_schema_nfield_keys;
/* Indexes of a run's `runner_job` and `runner_jobs` fields (the bridge). */
NUON_INTERNAL extern const int nuon_schema_run_runner_job;
NUON_INTERNAL extern const int nuon_schema_run_runner_jobs;

/* Pushes a new sequence of every field name and enum value, in slot order. */
NUON_INTERNAL void nuon_schema_push_keys(lua_State *L);

#endif /* NUON_SCHEMA_H */
