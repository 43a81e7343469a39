/*
 * schema.c - the sandbox-run schema and its enums as static C tables.
 *
 * Transcribed from schema/sandbox_runs.schema.json (the seed
 * revision): fields in the schema's (alphabetical) order, then the fields
 * today's server added (../shared/spec/NOTES.md (c)).  Each list is an X-macro
 * so that field counts and key-table slots are computed by the compiler, not
 * by hand.
 *
 * The enums are the one table of every value the real API has sent, each
 * with its provenance: "seed" (on the 2024 page), "added YYYY-MM" (first seen
 * in the SDKs or the server that month), and ", removed YYYY-MM" when the
 * server stopped writing it (old rows keep it, so it stays known).  Values
 * come in that order: the seed's in its order, then the others by date.
 * nuon.enums, nuon.enum_provenance and the decoder's checks all come from
 * here; the README's table is checked against it (spec/enums_spec.lua).
 */
#include "schema.h"

#define S NUON_K_STRING, 0
#define I NUON_K_INTEGER, 0
#define B NUON_K_BOOLEAN, 0
#define M NUON_K_MAP, 0
#define SA NUON_K_STRINGS, 0
#define O(t) NUON_K_OBJECT, NUON_T_##t
#define A(t) NUON_K_ARRAY, NUON_T_##t
#define E(e) NUON_K_ENUM, NUON_E_##e

/* app.InstallSandboxRun */
#define RUN_FIELDS(F)                        \
  F(app_sandbox_config, O(SANDBOX_CONFIG))   \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(install_id, S)                           \
  F(log_stream, O(LOG_STREAM))               \
  F(run_type, E(RUN_TYPE))                   \
  F(runner_job, O(RUNNER_JOB))               \
  F(status, E(RUN_STATUS))                   \
  F(status_description, S)                   \
  F(updated_at, S)                           \
  /* post-seed */                            \
  F(runner_jobs, A(RUNNER_JOB))              \
  F(status_v2, O(STATUS_V2))                 \
  F(created_by, O(ACCOUNT))                  \
  F(install_sandbox_id, S)                   \
  F(install_workflow_id, S)                  \
  F(org_id, S) /* sent, never documented */  \
  F(workflow_id, S)

/* app.AppSandboxConfig */
#define SANDBOX_CONFIG_FIELDS(F)             \
  F(app_id, S)                               \
  F(artifacts, O(ARTIFACTS))                 \
  F(aws_delegation_config, O(AWS_DELEGATION)) \
  F(aws_region_type, S)                      \
  F(cloud_platform, S)                       \
  F(connected_github_vcs_config, O(GITHUB_VCS)) \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(org_id, S)                               \
  F(public_git_vcs_config, O(PUBLIC_GIT))    \
  F(terraform_version, S)                    \
  F(updated_at, S)                           \
  F(variables, M)                            \
  /* post-seed ("Refs", capitalised, is kept as it comes) */ \
  F(app_config_id, S)                        \
  F(env_vars, M)                             \
  F(variables_files, SA)                     \
  F(drift_schedule, S)                       \
  F(references, SA)

/* app.AppSandboxConfig.artifacts */
#define ARTIFACTS_FIELDS(F)                  \
  F(cloudformation_stack_template, S)        \
  F(deprovision_policy, S)                   \
  F(provision_policy, S)                     \
  F(trust_policy, S)

/* app.AppAWSDelegationConfig */
#define AWS_DELEGATION_FIELDS(F)             \
  F(app_sandbox_config_id, S)                \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(iam_role_arn, S)                         \
  F(id, S)                                   \
  F(org_id, S)                               \
  F(updated_at, S)

/* app.ConnectedGithubVCSConfig */
#define GITHUB_VCS_FIELDS(F)                 \
  F(branch, S)                               \
  F(component_config_id, S)                  \
  F(component_config_type, S)                \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(directory, S)                            \
  F(id, S)                                   \
  F(repo, S)                                 \
  F(repo_name, S)                            \
  F(repo_owner, S)                           \
  F(updated_at, S)                           \
  F(vcs_connection, O(VCS_CONNECTION))       \
  F(vcs_connection_id, S)

/* app.VCSConnection */
#define VCS_CONNECTION_FIELDS(F)             \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(github_install_id, S)                    \
  F(id, S)                                   \
  F(updated_at, S)                           \
  F(vcs_connection_commit, A(VCS_COMMIT))    \
  /* post-seed */                            \
  F(github_account_id, S)                    \
  F(github_account_name, S)

/* app.VCSConnectionCommit */
#define VCS_COMMIT_FIELDS(F)                 \
  F(author_email, S)                         \
  F(author_name, S)                          \
  F(component_config_connection_id, S)       \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(message, S)                              \
  F(sha, S)                                  \
  F(updated_at, S)                           \
  F(vcs_connection_id, S) /* post-seed */

/* app.PublicGitVCSConfig */
#define PUBLIC_GIT_FIELDS(F)                 \
  F(branch, S)                               \
  F(component_config_id, S)                  \
  F(component_config_type, S)                \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(directory, S)                            \
  F(id, S)                                   \
  F(repo, S)                                 \
  F(updated_at, S)

/* app.LogStream */
#define LOG_STREAM_FIELDS(F)                 \
  F(attrs, M)                                \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(open, B)                                 \
  F(org_id, S)                               \
  F(owner_id, S)                             \
  F(owner_type, S)                           \
  F(runner_api_url, S)                       \
  F(updated_at, S)                           \
  F(write_token, S)

/* app.RunnerJob */
#define RUNNER_JOB_FIELDS(F)                 \
  F(available_timeout, I)                    \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(execution_count, I)                      \
  F(execution_timeout, I)                    \
  F(executions, A(EXECUTION))                \
  F(group, E(JOB_GROUP))                     \
  F(id, S)                                   \
  F(log_stream_id, S)                        \
  F(max_executions, I)                       \
  F(operation, E(JOB_OPERATION))             \
  F(org_id, S)                               \
  F(overall_timeout, I)                      \
  F(owner_id, S)                             \
  F(owner_type, S)                           \
  F(queue_timeout, I)                        \
  F(runner_id, S)                            \
  F(status, E(JOB_STATUS))                   \
  F(status_description, S)                   \
  F(type, E(JOB_TYPE))                       \
  F(updated_at, S)                           \
  /* post-seed (outputs: any JSON, kept) */  \
  F(started_at, S)                           \
  F(finished_at, S)                          \
  F(execution_time, I) /* ns */              \
  F(final_runner_job_execution_id, S)        \
  F(metadata, M)                             \
  F(outputs_json, S) /* base64 */

/* app.RunnerJobExecution */
#define EXECUTION_FIELDS(F)                  \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(org_id, S)                               \
  F(result, O(RESULT))                       \
  F(runner_job_id, S)                        \
  F(status, E(EXECUTION_STATUS))             \
  F(updated_at, S)                           \
  F(metadata, M) /* post-seed; outputs kept */

/* app.RunnerJobExecutionResult */
#define RESULT_FIELDS(F)                     \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(error_code, I)                           \
  F(error_metadata, M)                       \
  F(id, S)                                   \
  F(org_id, S)                               \
  F(runner_job_execution_id, S)              \
  F(success, B)                              \
  F(updated_at, S)                           \
  /* post-seed (the last three base64) */    \
  F(contents, S)                             \
  F(contents_display, S)                     \
  F(contents_gzip, S)                        \
  F(contents_display_gzip, S)

/* app.CompositeStatus (a run's status_v2; metadata is any JSON, kept) */
#define STATUS_V2_FIELDS(F)                  \
  F(created_at_ts, I)                        \
  F(created_by_id, S)                        \
  F(history, A(STATUS_V2))                   \
  F(status, E(COMPOSITE_STATUS))             \
  F(status_human_description, S)

/* app.Account (permissions: any JSON, kept) */
#define ACCOUNT_FIELDS(F)                    \
  F(account_type, S)                         \
  F(created_at, S)                           \
  F(email, S)                                \
  F(id, S)                                   \
  F(org_ids, SA)                             \
  F(subject, S)                              \
  F(updated_at, S)

/* ---- enums: V(value, provenance) ------------------------------------------- */

#define SEED "seed"

/* app.SandboxRunType */
#define RUN_TYPE_VALUES(V) V("provision", SEED) V("reprovision", SEED) V("deprovision", SEED)

/* app.RunnerJobStatus */
#define JOB_STATUS_VALUES(V)                                                    \
  V("queued", SEED) V("available", SEED) V("in-progress", SEED)                \
  V("finished", SEED) V("failed", SEED) V("timed-out", SEED)                   \
  V("not-attempted", SEED) V("cancelled", SEED) V("unknown", SEED)

/* app.RunnerJobGroup ("" is AppRunnerJobGroupEmpty) */
#define JOB_GROUP_VALUES(V)                                                     \
  V("health-checks", SEED) V("sync", SEED) V("build", SEED) V("deploy", SEED)  \
  V("sandbox", SEED) V("runner", SEED) V("operations", SEED)                   \
  V("user", "seed, removed 2025-01") V("", SEED) V("any", SEED)                \
  V("actions", "added 2025-01") V("management", "added 2025-07")

/* app.RunnerJobOperationType: the plan/apply split replaced the old three */
#define JOB_OPERATION_VALUES(V)                                                 \
  V("exec", SEED) V("apply", "seed, removed 2025-06")                          \
  V("destroy", "seed, removed 2025-06") V("plan-only", "seed, removed 2025-06") \
  V("build", SEED) V("unknown", SEED)                                          \
  V("create-apply-plan", "added 2025-06") V("create-teardown-plan", "added 2025-06") \
  V("apply-plan", "added 2025-06")

/* app.RunnerJobType; "unknown" is the server's untyped constant (HEAD,
 * 2025-12); the 2026-08 ones are nuon-python's (api 0.19.1125) */
#define JOB_TYPE_VALUES(V)                                                      \
  V("health-check", SEED) V("docker-build", SEED)                              \
  V("container-image-build", SEED) V("terraform-module-build", SEED)           \
  V("helm-chart-build", SEED) V("noop-build", SEED) V("oci-sync", SEED)        \
  V("noop-sync", SEED) V("terraform-deploy", SEED) V("helm-chart-deploy", SEED) \
  V("job-deploy", SEED) V("noop-deploy", SEED) V("shut-down", SEED)            \
  V("noop", SEED) V("sandbox-terraform", SEED) V("runner-helm", SEED)          \
  V("runner-terraform", SEED) V("runner-local", SEED)                          \
  V("actions-workflow", "added 2025-01") V("update-version", "added 2025-02")  \
  V("sandbox-sync-secrets", "added 2025-05")                                   \
  V("sandbox-terraform-plan", "added 2025-06")                                 \
  V("app-config-sync", "added 2025-07, removed 2025-07")                       \
  V("mng-vm-shut-down", "added 2025-07") V("mng-shut-down", "added 2025-07")   \
  V("mng-runner-update-version", "added 2025-07")                              \
  V("mng-runner-restart", "added 2025-07")                                     \
  V("kubernetes-manifest-deploy", "added 2025-07") V("unknown", "added 2025-12") \
  V("fetch-image-metadata", "added 2026-08")                                   \
  V("kubernetes-manifest-build", "added 2026-08")                              \
  V("mng-fetch-token", "added 2026-08") V("pulumi-build", "added 2026-08")     \
  V("pulumi-deploy", "added 2026-08") V("sandbox-build", "added 2026-08")      \
  V("sandbox-pulumi", "added 2026-08")

/* app.RunnerJobExecutionStatus */
#define EXECUTION_STATUS_VALUES(V)                                              \
  V("pending", SEED) V("initializing", SEED) V("in-progress", SEED)            \
  V("cleaning-up", SEED) V("finished", SEED) V("failed", SEED)                 \
  V("timed-out", SEED) V("not-attempted", SEED) V("cancelled", SEED)           \
  V("unknown", SEED)

/* A run's own status: no enum on the 2024 page (swaggertype string), the
 * server's SandboxRunStatus constants of December 2024 ("seed") and those
 * added since (NOTES.md (d)); and since 2025-06 any app.Status, which the
 * model copies from status_v2.status (the composite set below). */
#define RUN_STATUS_VALUES(V)                                                    \
  V("active", SEED) V("error", SEED) V("queued", SEED)                         \
  V("deprovisioning", SEED) V("provisioning", SEED) V("reprovisioning", SEED)  \
  V("access_error", SEED) V("unknown", SEED) V("empty", SEED)                  \
  V("deprovisioned", "added 2025-01") V("cancelled", "added 2025-05")          \
  V("pending-approval", "added 2025-06") V("approval-denied", "added 2025-06") \
  V("planning", "added 2025-06") V("applying", "added 2025-06")                \
  V("pending", "added 2025-06") V("in-progress", "added 2025-06")              \
  V("checking-plan", "added 2025-06") V("success", "added 2025-06")            \
  V("not-attempted", "added 2025-06") V("retrying", "added 2025-06")           \
  V("discarded", "added 2025-06") V("user-skipped", "added 2025-06")           \
  V("auto-skipped", "added 2025-06") V("generating", "added 2025-06")          \
  V("awaiting-user-run", "added 2025-06") V("outdated", "added 2025-06")       \
  V("expired", "added 2025-06") V("approved", "added 2025-06")                 \
  V("drifted", "added 2025-06") V("no-drift", "added 2025-06")                 \
  V("approval-expired", "added 2025-06") V("approval-retry", "added 2025-06")  \
  V("building", "added 2025-06") V("deleting", "added 2025-06")                \
  V("noop", "added 2025-06") V("approval-awaiting", "added 2025-06")           \
  V("awaiting-approval", "added 2025-06, removed 2025-12")                     \
  V("drift-detected", "added 2025-08")                                         \
  V("failed-pending-retry", "added 2026-08") V("warning", "added 2026-08")

/* A run's status_v2.status (new in 2025-06, with status_v2): app.Status, and
 * the SandboxRunStatus values the sandbox-run code writes into it too ("the
 * composite status is usually the same string", NOTES.md (d)).
 * awaiting-approval was in the first version only (gone at HEAD, 2025-12). */
#define COMPOSITE_STATUS_VALUES(V)                                              \
  V("error", "added 2025-06") V("pending", "added 2025-06")                    \
  V("in-progress", "added 2025-06") V("checking-plan", "added 2025-06")        \
  V("success", "added 2025-06") V("not-attempted", "added 2025-06")            \
  V("cancelled", "added 2025-06") V("retrying", "added 2025-06")               \
  V("discarded", "added 2025-06") V("user-skipped", "added 2025-06")           \
  V("auto-skipped", "added 2025-06") V("planning", "added 2025-06")            \
  V("applying", "added 2025-06") V("queued", "added 2025-06")                  \
  V("generating", "added 2025-06") V("awaiting-user-run", "added 2025-06")     \
  V("provisioning", "added 2025-06") V("active", "added 2025-06")              \
  V("outdated", "added 2025-06") V("expired", "added 2025-06")                 \
  V("approved", "added 2025-06") V("drifted", "added 2025-06")                 \
  V("no-drift", "added 2025-06") V("approval-expired", "added 2025-06")        \
  V("approval-denied", "added 2025-06") V("approval-retry", "added 2025-06")   \
  V("building", "added 2025-06") V("deleting", "added 2025-06")                \
  V("noop", "added 2025-06") V("approval-awaiting", "added 2025-06")           \
  V("awaiting-approval", "added 2025-06, removed 2025-12")                     \
  V("deprovisioned", "added 2025-06") V("deprovisioning", "added 2025-06")     \
  V("reprovisioning", "added 2025-06") V("access_error", "added 2025-06")      \
  V("unknown", "added 2025-06") V("empty", "added 2025-06")                    \
  V("pending-approval", "added 2025-06") V("drift-detected", "added 2025-08")  \
  V("failed-pending-retry", "added 2026-08") V("warning", "added 2026-08")

/* ---- expansion ------------------------------------------------------------ */

#define FIELD_ENTRY(name, kind_ref) {#name, "\"" #name "\":", sizeof #name - 1, kind_ref},
#define FIELD_COUNT(name, kind_ref) +1
#define VALUE_ENTRY(s, since) {s, sizeof s - 1, since},
#define VALUE_COUNT(s, since) +1

#define DEFINE_TYPE(T)                                           \
  static const nuon_field T##_fields[] = {T##_FIELDS(FIELD_ENTRY)}; \
  enum { T##_N = 0 T##_FIELDS(FIELD_COUNT) };

#define DEFINE_ENUM(N)                                                 \
  static const nuon_enum_value N##_values[] = {N##_VALUES(VALUE_ENTRY)}; \
  enum { N##_N = 0 N##_VALUES(VALUE_COUNT) };

DEFINE_TYPE(RUN)
DEFINE_TYPE(SANDBOX_CONFIG)
DEFINE_TYPE(ARTIFACTS)
DEFINE_TYPE(AWS_DELEGATION)
DEFINE_TYPE(GITHUB_VCS)
DEFINE_TYPE(VCS_CONNECTION)
DEFINE_TYPE(VCS_COMMIT)
DEFINE_TYPE(PUBLIC_GIT)
DEFINE_TYPE(LOG_STREAM)
DEFINE_TYPE(RUNNER_JOB)
DEFINE_TYPE(EXECUTION)
DEFINE_TYPE(RESULT)
DEFINE_TYPE(STATUS_V2)
DEFINE_TYPE(ACCOUNT)

DEFINE_ENUM(RUN_TYPE)
DEFINE_ENUM(JOB_STATUS)
DEFINE_ENUM(JOB_GROUP)
DEFINE_ENUM(JOB_OPERATION)
DEFINE_ENUM(JOB_TYPE)
DEFINE_ENUM(EXECUTION_STATUS)
DEFINE_ENUM(RUN_STATUS)
DEFINE_ENUM(COMPOSITE_STATUS)

/* Key-table slots: each list starts where the previous one ends. */
enum {
  RUN_KEY = 1,
  SANDBOX_CONFIG_KEY = RUN_KEY + RUN_N,
  ARTIFACTS_KEY = SANDBOX_CONFIG_KEY + SANDBOX_CONFIG_N,
  AWS_DELEGATION_KEY = ARTIFACTS_KEY + ARTIFACTS_N,
  GITHUB_VCS_KEY = AWS_DELEGATION_KEY + AWS_DELEGATION_N,
  VCS_CONNECTION_KEY = GITHUB_VCS_KEY + GITHUB_VCS_N,
  VCS_COMMIT_KEY = VCS_CONNECTION_KEY + VCS_CONNECTION_N,
  PUBLIC_GIT_KEY = VCS_COMMIT_KEY + VCS_COMMIT_N,
  LOG_STREAM_KEY = PUBLIC_GIT_KEY + PUBLIC_GIT_N,
  RUNNER_JOB_KEY = LOG_STREAM_KEY + LOG_STREAM_N,
  EXECUTION_KEY = RUNNER_JOB_KEY + RUNNER_JOB_N,
  RESULT_KEY = EXECUTION_KEY + EXECUTION_N,
  STATUS_V2_KEY = RESULT_KEY + RESULT_N,
  ACCOUNT_KEY = STATUS_V2_KEY + STATUS_V2_N,
  RUN_TYPE_KEY = ACCOUNT_KEY + ACCOUNT_N, /* the first enum: field names end here */
  JOB_STATUS_KEY = RUN_TYPE_KEY + RUN_TYPE_N,
  JOB_GROUP_KEY = JOB_STATUS_KEY + JOB_STATUS_N,
  JOB_OPERATION_KEY = JOB_GROUP_KEY + JOB_GROUP_N,
  JOB_TYPE_KEY = JOB_OPERATION_KEY + JOB_OPERATION_N,
  EXECUTION_STATUS_KEY = JOB_TYPE_KEY + JOB_TYPE_N,
  RUN_STATUS_KEY = EXECUTION_STATUS_KEY + EXECUTION_STATUS_N,
  COMPOSITE_STATUS_KEY = RUN_STATUS_KEY + RUN_STATUS_N,
  END_KEY = COMPOSITE_STATUS_KEY + COMPOSITE_STATUS_N
};

/* The decoder keeps seen fields in a 64-bit mask. */
typedef char check_max_fields[(RUN_N <= NUON_SCHEMA_MAX_FIELDS &&
                               SANDBOX_CONFIG_N <= NUON_SCHEMA_MAX_FIELDS &&
                               GITHUB_VCS_N <= NUON_SCHEMA_MAX_FIELDS &&
                               LOG_STREAM_N <= NUON_SCHEMA_MAX_FIELDS &&
                               RUNNER_JOB_N <= NUON_SCHEMA_MAX_FIELDS &&
                               RESULT_N <= NUON_SCHEMA_MAX_FIELDS &&
                               VCS_CONNECTION_N <= NUON_SCHEMA_MAX_FIELDS &&
                               NUON_SCHEMA_MAX_FIELDS <= 64 &&
                               END_KEY - 1 <= NUON_SCHEMA_MAX_KEYS)
                                  ? 1
                                  : -1];

#define TYPE_ENTRY(T, schema_name) {schema_name, T##_fields, T##_N, T##_KEY}

const nuon_type nuon_schema_types[NUON_NTYPES] = {
  TYPE_ENTRY(RUN, "app.InstallSandboxRun"),
  TYPE_ENTRY(SANDBOX_CONFIG, "app.AppSandboxConfig"),
  TYPE_ENTRY(ARTIFACTS, "app.AppSandboxConfig.artifacts"),
  TYPE_ENTRY(AWS_DELEGATION, "app.AppAWSDelegationConfig"),
  TYPE_ENTRY(GITHUB_VCS, "app.ConnectedGithubVCSConfig"),
  TYPE_ENTRY(VCS_CONNECTION, "app.VCSConnection"),
  TYPE_ENTRY(VCS_COMMIT, "app.VCSConnectionCommit"),
  TYPE_ENTRY(PUBLIC_GIT, "app.PublicGitVCSConfig"),
  TYPE_ENTRY(LOG_STREAM, "app.LogStream"),
  TYPE_ENTRY(RUNNER_JOB, "app.RunnerJob"),
  TYPE_ENTRY(EXECUTION, "app.RunnerJobExecution"),
  TYPE_ENTRY(RESULT, "app.RunnerJobExecutionResult"),
  TYPE_ENTRY(STATUS_V2, "app.CompositeStatus"),
  TYPE_ENTRY(ACCOUNT, "app.Account"),
};

#define ENUM_ENTRY(N, lua_name) {lua_name, N##_values, N##_N, N##_KEY}

const nuon_enum nuon_schema_enums[NUON_NENUMS] = {
  ENUM_ENTRY(RUN_TYPE, "run_type"),
  ENUM_ENTRY(JOB_STATUS, "runner_job_status"),
  ENUM_ENTRY(JOB_GROUP, "runner_job_group"),
  ENUM_ENTRY(JOB_OPERATION, "runner_job_operation"),
  ENUM_ENTRY(JOB_TYPE, "runner_job_type"),
  ENUM_ENTRY(EXECUTION_STATUS, "runner_job_execution_status"),
  ENUM_ENTRY(RUN_STATUS, "run_status"),
  ENUM_ENTRY(COMPOSITE_STATUS, "composite_status"),
};

const int nuon_schema_nkeys = END_KEY - 1;
const int nuon_schema_nfield_keys = RUN_TYPE_KEY - 1;

#define RUN_INDEX(name, kind_ref) RUN_I_##name,
enum { RUN_FIELDS(RUN_INDEX) RUN_I_END };

const int nuon_schema_run_runner_job = RUN_I_runner_job;
const int nuon_schema_run_runner_jobs = RUN_I_runner_jobs;

void nuon_schema_push_keys(lua_State *L) {
  int t, e, i;
  lua_createtable(L, nuon_schema_nkeys, 0);
  for (t = 0; t < NUON_NTYPES; t++) {
    const nuon_type *ty = &nuon_schema_types[t];
    for (i = 0; i < ty->nfields; i++) {
      lua_pushlstring(L, ty->fields[i].name, ty->fields[i].len);
      lua_rawseti(L, -2, ty->key + i);
    }
  }
  for (e = 0; e < NUON_NENUMS; e++) {
    const nuon_enum *en = &nuon_schema_enums[e];
    for (i = 0; i < en->nvalues; i++) {
      lua_pushlstring(L, en->values[i].s, en->values[i].len);
      lua_rawseti(L, -2, en->key + i);
    }
  }
}

void nuon_schema_push_enums(lua_State *L, int provenance) {
  int e, i;
  lua_createtable(L, 0, NUON_NENUMS);
  for (e = 0; e < NUON_NENUMS; e++) {
    const nuon_enum *en = &nuon_schema_enums[e];
    if (provenance) lua_createtable(L, 0, en->nvalues);
    else lua_createtable(L, en->nvalues, 0);
    for (i = 0; i < en->nvalues; i++) {
      lua_pushlstring(L, en->values[i].s, en->values[i].len);
      if (provenance) {
        lua_pushstring(L, en->values[i].since);
        lua_rawset(L, -3);
      } else {
        lua_rawseti(L, -2, i + 1);
      }
    }
    lua_setfield(L, -2, en->name);
  }
}
