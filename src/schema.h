/*
 * schema.h - the sandbox-run schema as static C tables (schema.c), read by
 * the decoder (decode.c).
 *
 * The object types and enums of schema/sandbox_runs.schema.json, plus
 * what today's server added (runner_jobs, status_v2, the run status enums).  Every field name and enum
 * value has a slot in the decoder's key table (a Lua table of interned
 * strings): a type's fields occupy slots key .. key + nfields - 1, an enum's
 * values slots key .. key + nvalues - 1.
 */
#ifndef NUON_SCHEMA_H
#define NUON_SCHEMA_H

#include "nuon.h"

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

/* Object types, indexes into nuon_schema_types. */
enum nuon_type_id {
  NUON_T_RUN,            /* app.InstallSandboxRun */
  NUON_T_SANDBOX_CONFIG, /* app.AppSandboxConfig */
  NUON_T_ARTIFACTS,      /* app.AppSandboxConfig.artifacts */
  NUON_T_AWS_DELEGATION, /* app.AppAWSDelegationConfig */
  NUON_T_GITHUB_VCS,     /* app.ConnectedGithubVCSConfig */
  NUON_T_VCS_CONNECTION, /* app.VCSConnection */
  NUON_T_VCS_COMMIT,     /* app.VCSConnectionCommit */
  NUON_T_PUBLIC_GIT,     /* app.PublicGitVCSConfig */
  NUON_T_LOG_STREAM,     /* app.LogStream */
  NUON_T_RUNNER_JOB,     /* app.RunnerJob */
  NUON_T_EXECUTION,      /* app.RunnerJobExecution */
  NUON_T_RESULT,         /* app.RunnerJobExecutionResult */
  NUON_T_STATUS_V2,      /* app.CompositeStatus */
  NUON_T_ACCOUNT,        /* app.Account (a run's created_by) */
  NUON_NTYPES
};

/* Enums, indexes into nuon_schema_enums. */
enum nuon_enum_id {
  NUON_E_RUN_TYPE,
  NUON_E_JOB_STATUS,
  NUON_E_JOB_GROUP,
  NUON_E_JOB_OPERATION,
  NUON_E_JOB_TYPE,
  NUON_E_EXECUTION_STATUS,
  NUON_E_RUN_STATUS,
  NUON_E_COMPOSITE_STATUS,
  NUON_NENUMS
};

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
