/*
 * schema.c - the sandbox-run schema and its enums as static C tables.
 *
 * Transcribed from ../shared/spec/sandbox_runs.schema.json (the seed
 * revision): fields in the schema's (alphabetical) order, enum values in the
 * schema's order.  The one addition is a run's post-seed `runner_jobs`, an
 * array of app.RunnerJob.  Each list is an X-macro so that field counts and
 * key-table slots are computed by the compiler, not by hand.
 */
#include "schema.h"

#define S NUON_K_STRING, 0
#define I NUON_K_INTEGER, 0
#define B NUON_K_BOOLEAN, 0
#define M NUON_K_MAP, 0
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
  F(status, S) /* no enum: an open set */    \
  F(status_description, S)                   \
  F(updated_at, S)                           \
  F(runner_jobs, A(RUNNER_JOB)) /* post-seed */

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
  F(variables, M)

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
  F(vcs_connection_commit, A(VCS_COMMIT))

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
  F(updated_at, S)

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
  F(updated_at, S)

/* app.RunnerJobExecution */
#define EXECUTION_FIELDS(F)                  \
  F(created_at, S)                           \
  F(created_by_id, S)                        \
  F(id, S)                                   \
  F(org_id, S)                               \
  F(result, O(RESULT))                       \
  F(runner_job_id, S)                        \
  F(status, E(EXECUTION_STATUS))             \
  F(updated_at, S)

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
  F(updated_at, S)

/* app.SandboxRunType */
#define RUN_TYPE_VALUES(V) V("provision") V("reprovision") V("deprovision")

/* app.RunnerJobStatus */
#define JOB_STATUS_VALUES(V)                                                    \
  V("queued") V("available") V("in-progress") V("finished") V("failed")        \
  V("timed-out") V("not-attempted") V("cancelled") V("unknown")

/* app.RunnerJobGroup ("" is AppRunnerJobGroupEmpty) */
#define JOB_GROUP_VALUES(V)                                                     \
  V("health-checks") V("sync") V("build") V("deploy") V("sandbox") V("runner") \
  V("operations") V("user") V("") V("any")

/* app.RunnerJobOperationType */
#define JOB_OPERATION_VALUES(V)                                                 \
  V("exec") V("apply") V("destroy") V("plan-only") V("build") V("unknown")

/* app.RunnerJobType */
#define JOB_TYPE_VALUES(V)                                                      \
  V("health-check") V("docker-build") V("container-image-build")               \
  V("terraform-module-build") V("helm-chart-build") V("noop-build")            \
  V("oci-sync") V("noop-sync") V("terraform-deploy") V("helm-chart-deploy")    \
  V("job-deploy") V("noop-deploy") V("shut-down") V("noop")                    \
  V("sandbox-terraform") V("runner-helm") V("runner-terraform")                \
  V("runner-local")

/* app.RunnerJobExecutionStatus */
#define EXECUTION_STATUS_VALUES(V)                                              \
  V("pending") V("initializing") V("in-progress") V("cleaning-up")             \
  V("finished") V("failed") V("timed-out") V("not-attempted") V("cancelled")   \
  V("unknown")

/* ---- expansion ------------------------------------------------------------ */

#define FIELD_ENTRY(name, kind_ref) {#name, "\"" #name "\":", sizeof #name - 1, kind_ref},
#define FIELD_COUNT(name, kind_ref) +1
#define VALUE_ENTRY(s) {s, sizeof s - 1},
#define VALUE_COUNT(s) +1

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

DEFINE_ENUM(RUN_TYPE)
DEFINE_ENUM(JOB_STATUS)
DEFINE_ENUM(JOB_GROUP)
DEFINE_ENUM(JOB_OPERATION)
DEFINE_ENUM(JOB_TYPE)
DEFINE_ENUM(EXECUTION_STATUS)

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
  RUN_TYPE_KEY = RESULT_KEY + RESULT_N,
  JOB_STATUS_KEY = RUN_TYPE_KEY + RUN_TYPE_N,
  JOB_GROUP_KEY = JOB_STATUS_KEY + JOB_STATUS_N,
  JOB_OPERATION_KEY = JOB_GROUP_KEY + JOB_GROUP_N,
  JOB_TYPE_KEY = JOB_OPERATION_KEY + JOB_OPERATION_N,
  EXECUTION_STATUS_KEY = JOB_TYPE_KEY + JOB_TYPE_N,
  END_KEY = EXECUTION_STATUS_KEY + EXECUTION_STATUS_N
};

/* The decoder keeps seen fields in a 64-bit mask. */
typedef char check_max_fields[(RUN_N <= NUON_SCHEMA_MAX_FIELDS &&
                               SANDBOX_CONFIG_N <= NUON_SCHEMA_MAX_FIELDS &&
                               GITHUB_VCS_N <= NUON_SCHEMA_MAX_FIELDS &&
                               LOG_STREAM_N <= NUON_SCHEMA_MAX_FIELDS &&
                               RUNNER_JOB_N <= NUON_SCHEMA_MAX_FIELDS &&
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
};

#define ENUM_ENTRY(N, lua_name) {lua_name, N##_values, N##_N, N##_KEY}

const nuon_enum nuon_schema_enums[NUON_NENUMS] = {
  ENUM_ENTRY(RUN_TYPE, "run_type"),
  ENUM_ENTRY(JOB_STATUS, "runner_job_status"),
  ENUM_ENTRY(JOB_GROUP, "runner_job_group"),
  ENUM_ENTRY(JOB_OPERATION, "runner_job_operation"),
  ENUM_ENTRY(JOB_TYPE, "runner_job_type"),
  ENUM_ENTRY(EXECUTION_STATUS, "runner_job_execution_status"),
};

const int nuon_schema_nkeys = END_KEY - 1;

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

void nuon_schema_push_enums(lua_State *L) {
  int e, i;
  lua_createtable(L, 0, NUON_NENUMS);
  for (e = 0; e < NUON_NENUMS; e++) {
    const nuon_enum *en = &nuon_schema_enums[e];
    lua_createtable(L, en->nvalues, 0);
    for (i = 0; i < en->nvalues; i++) {
      lua_pushlstring(L, en->values[i].s, en->values[i].len);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, en->name);
  }
}
