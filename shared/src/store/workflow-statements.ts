/**
 * The SQL of workflows (migration 9): named, parameterised statements, as statements.ts holds
 * the tasks' ones. The rules they carry are in workflow-store.ts.
 */

export const INSERT_WORKFLOW = `
  INSERT INTO workflows (id, kind, size, owner) VALUES ($1, $2, $3, $4)`;

/** $1 workflow id, $2 JSON array of {task_id, position, role, name}. */
export const INSERT_WORKFLOW_TASKS = `
  INSERT INTO workflow_tasks (workflow_id, task_id, position, role, name)
  SELECT $1, t.task_id, t.position, t.role, t.name
  FROM jsonb_to_recordset($2::jsonb) AS t(task_id text, position integer, role text, name text)`;

/** Serialises the ends of one workflow's tasks: two finishing at once count one after the other. */
export const LOCK_WORKFLOW = `
  SELECT kind, state, size, completed, body_published_at IS NOT NULL AS body_published
  FROM workflows WHERE id = $1 FOR UPDATE`;

export const SELECT_MEMBER = `
  SELECT role, position FROM workflow_tasks WHERE workflow_id = $1 AND task_id = $2`;

/** Marks one task complete, once: returns a row only the first time. */
export const MARK_COMPLETED = `
  UPDATE workflow_tasks SET completed_at = now()
  WHERE workflow_id = $1 AND task_id = $2 AND completed_at IS NULL
  RETURNING position`;

export const COUNT_COMPLETION = `
  UPDATE workflows SET completed = completed + 1 WHERE id = $1 RETURNING completed`;

/** The counted tasks (a group's members, a chord's header) with their outcomes, in order. */
export const SELECT_COUNTED_OUTCOMES = `
  SELECT wt.task_id, t.state, t.result, t.error_type, t.error_message
  FROM workflow_tasks wt LEFT JOIN tasks t ON t.id = wt.task_id
  WHERE wt.workflow_id = $1 AND wt.role IN ('member', 'header')
  ORDER BY wt.position`;

/** Ends a workflow, once: a workflow already final keeps its first end. */
export const FINISH_WORKFLOW = `
  UPDATE workflows
  SET state = $2, result = $3::jsonb, error_type = $4, error_message = $5, error_task_id = $6, finished_at = now()
  WHERE id = $1 AND state = 'PENDING'`;

export const MARK_BODY_PUBLISHED = `
  UPDATE workflows SET body_published_at = now() WHERE id = $1 AND body_published_at IS NULL`;

export const SELECT_WORKFLOW = `
  SELECT id, kind, state, result, error_type, error_message, error_task_id, size, completed, owner, created_at, finished_at
  FROM workflows WHERE id = $1`;

export const SELECT_WORKFLOW_TASKS = `
  SELECT wt.task_id, wt.position, wt.role, wt.name, t.state, t.result, t.error_type, t.error_message
  FROM workflow_tasks wt LEFT JOIN tasks t ON t.id = wt.task_id
  WHERE wt.workflow_id = $1
  ORDER BY wt.position, wt.role`;

export const SELECT_WORKFLOWS_OF_TASK = `
  SELECT w.id, w.kind, w.state, w.owner FROM workflow_tasks wt JOIN workflows w ON w.id = wt.workflow_id
  WHERE wt.task_id = $1 ORDER BY w.created_at LIMIT 10`;
