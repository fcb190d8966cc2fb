/**
 * Numbered migrations, applied in order by `migrate()`. Never edit one that has shipped:
 * add the next number.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'tasks',
    sql: `
      -- The order of a state write: the store keeps the write with the highest order, so
      -- writes that arrive out of order (a late PENDING after SUCCESS) cannot move a task
      -- backwards. Final states outrank everything; otherwise a later attempt outranks an
      -- earlier one, and within an attempt PENDING < RECEIVED < STARTED < RETRY.
      CREATE FUNCTION celerity_state_order(state text, retries integer) RETURNS bigint
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT CASE
            WHEN state IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN 9223372036854775807
            ELSE retries::bigint * 8 + CASE state
              WHEN 'PENDING' THEN 0 WHEN 'RECEIVED' THEN 1 WHEN 'STARTED' THEN 2 WHEN 'RETRY' THEN 3 ELSE 0 END
          END
        $$;

      CREATE TABLE tasks (
        id            text PRIMARY KEY,
        name          text NOT NULL,
        queue         text NOT NULL,
        state         text NOT NULL CHECK (state IN ('PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED')),
        args          jsonb NOT NULL DEFAULT '[]',
        kwargs        jsonb NOT NULL DEFAULT '{}',
        result        jsonb,
        error_type    text,
        error_message text,
        retries       integer NOT NULL DEFAULT 0,
        worker        text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        started_at    timestamptz,
        finished_at   timestamptz,
        updated_at    timestamptz NOT NULL DEFAULT now()
      );

      -- Listing and searching by state or name over a time range (dashboards, operators).
      CREATE INDEX tasks_state_created_at_idx ON tasks (state, created_at DESC);
      CREATE INDEX tasks_name_created_at_idx ON tasks (name, created_at DESC);
      CREATE INDEX tasks_created_at_idx ON tasks (created_at DESC);
      -- The retention sweep deletes by last change.
      CREATE INDEX tasks_updated_at_idx ON tasks (updated_at);
    `,
  },
  {
    id: 2,
    name: 'attempts and idempotency keys',
    sql: `
      -- attempts: how many times a worker started the task, over its whole life (retries and
      -- redeliveries). deliveries: starts of the current message (this retries round); the
      -- worker stops a message that keeps getting redelivered after it started (a task that
      -- crashes its worker) once deliveries passes the delivery limit.
      ALTER TABLE tasks ADD COLUMN attempts integer NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN deliveries integer NOT NULL DEFAULT 0;

      -- Idempotency-Key on submit: the first submit with a key owns it for the window;
      -- fingerprint is a hash of what was submitted, so a reused key with other content is
      -- refused instead of silently answering with a different task. unconfirmed: the
      -- submit's publish failed without a confirm (the broker may or may not have the
      -- message); the next submit with the key publishes the same task id again.
      CREATE TABLE idempotency_keys (
        key         text PRIMARY KEY,
        task_id     text NOT NULL,
        fingerprint text NOT NULL,
        unconfirmed boolean NOT NULL DEFAULT false,
        created_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
    `,
  },
  {
    id: 3,
    name: 'api keys and task owners',
    sql: `
      -- The API key that submitted a task (api_keys.id); NULL when authentication was off or the
      -- task came from elsewhere (a Celery client). Only admin keys read tasks without an owner.
      -- No index: nothing looks tasks up by owner yet, and building one would lock a big table.
      ALTER TABLE tasks ADD COLUMN owner text;

      -- Only a SHA-256 of each key's secret is stored; the secret is shown once, at creation.
      CREATE TABLE api_keys (
        id              text PRIMARY KEY,
        name            text NOT NULL,
        secret_hash     bytea NOT NULL,
        scopes          text[] NOT NULL,
        rate_per_minute integer CHECK (rate_per_minute > 0),
        created_at      timestamptz NOT NULL DEFAULT now(),
        revoked_at      timestamptz
      );
      -- Operators revoke by name, so a name is unique among the keys still in force.
      CREATE UNIQUE INDEX api_keys_active_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

      -- Dashboard logins: an admin key exchanged for an opaque cookie (stored hashed). A session
      -- ends when it expires or its key is revoked.
      CREATE TABLE api_key_sessions (
        token_hash bytea PRIMARY KEY,
        key_id     text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX api_key_sessions_expires_at_idx ON api_key_sessions (expires_at);
    `,
  },
  {
    id: 4,
    name: 'notify finished tasks',
    sql: `
      -- Gateways LISTEN on celerity_finished to answer GET ?wait= at once for tasks that another
      -- gateway submitted (no reply reaches them). The payload is "<schema> <task id>": one
      -- channel serves every schema of the database (a channel name could not hold a long
      -- schema name), and listeners keep their own. Sent at commit, so a listener that then
      -- reads the row sees the final state. Only a change into a final state notifies.
      CREATE FUNCTION celerity_notify_finished() RETURNS trigger
        LANGUAGE plpgsql AS $$
          BEGIN
            PERFORM pg_notify('celerity_finished', TG_TABLE_SCHEMA || ' ' || NEW.id);
            RETURN NULL;
          END
        $$;
      CREATE TRIGGER tasks_finished_insert AFTER INSERT ON tasks FOR EACH ROW
        WHEN (NEW.state IN ('SUCCESS', 'FAILURE', 'REVOKED'))
        EXECUTE FUNCTION celerity_notify_finished();
      CREATE TRIGGER tasks_finished_update AFTER UPDATE OF state ON tasks FOR EACH ROW
        WHEN (NEW.state IN ('SUCCESS', 'FAILURE', 'REVOKED') AND OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION celerity_notify_finished();
    `,
  },
  {
    id: 5,
    name: 'task leases',
    sql: `
      -- While a worker runs a task, its STARTED row holds a lease that the worker renews; a
      -- redelivered or republished copy that finds a live lease is deferred instead of run
      -- (the first copy still runs), and one that finds it lapsed runs (the first worker died).
      ALTER TABLE tasks ADD COLUMN lease_expires_at timestamptz;
    `,
  },
  {
    id: 6,
    name: 'lease holders',
    sql: `
      -- Who holds a task's lease: one delivery of its message (the worker's name and a token of
      -- that delivery), so that a duplicate copy can tell a live lease that is not its own, and
      -- a worker renews only the leases its own deliveries took.
      ALTER TABLE tasks ADD COLUMN lease_holder text;
    `,
  },
  {
    id: 7,
    name: 'revocations',
    sql: `
      -- Revoked task ids, durable: a worker's claim refuses an id listed here, so a revoked task
      -- never starts on any worker, also one started (or reconnected) after the revoke. A row
      -- may name a task that has no row in tasks yet (its PENDING write still batched, or a
      -- Celery client's task). terminate: the revoke asked to stop the task if running.
      -- revoked_by: the API key's id, or who else revoked it (cli, worker name, open access).
      CREATE TABLE revocations (
        task_id    text PRIMARY KEY,
        terminate  boolean NOT NULL DEFAULT false,
        reason     text,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        revoked_by text
      );
      -- Workers load the recent ones at start and after a reconnect.
      CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at);
    `,
  },
  {
    id: 8,
    name: 'schedules',
    sql: `
      -- Schedules created at run time (source 'api': their definition is stored), and the state
      -- of every schedule, the app module's too (source 'app': the leader adds the row): paused,
      -- and the scheduled time of the latest regular run handled, from which the next is computed.
      CREATE TABLE schedules (
        name        text PRIMARY KEY,
        source      text NOT NULL CHECK (source IN ('app', 'api')),
        definition  jsonb,
        paused      boolean NOT NULL DEFAULT false,
        last_run_at timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      );

      -- One row per run of a schedule, keyed by (schedule, scheduled time): the primary key is
      -- what makes a run fire at most once, even when two schedulers both believe they lead.
      -- The row is written before the task is published; a row still 'pending' (its scheduler
      -- died before the broker confirmed) is published again with the same task id.
      CREATE TABLE schedule_fires (
        schedule      text NOT NULL,
        scheduled_at  timestamptz NOT NULL,
        kind          text NOT NULL CHECK (kind IN ('scheduled', 'trigger', 'backfill')),
        state         text NOT NULL CHECK (state IN ('pending', 'published', 'queued', 'skipped')),
        reason        text,
        task_id       text,
        fencing_token bigint,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        published_at  timestamptz,
        PRIMARY KEY (schedule, scheduled_at)
      );
      CREATE INDEX schedule_fires_open_idx ON schedule_fires (schedule) WHERE state IN ('pending', 'queued');
      CREATE INDEX schedule_fires_published_idx ON schedule_fires (schedule, published_at DESC) WHERE state = 'published';
      CREATE INDEX schedule_fires_recorded_at_idx ON schedule_fires (recorded_at);

      -- The scheduler's leader lease: one row. A process takes it when it has expired, which
      -- bumps the fencing token; a fire is recorded only under the current token and holder.
      CREATE TABLE beat_lease (
        id            smallint PRIMARY KEY CHECK (id = 1),
        holder        text,
        fencing_token bigint NOT NULL DEFAULT 0,
        expires_at    timestamptz NOT NULL DEFAULT '-infinity',
        acquired_at   timestamptz
      );
      INSERT INTO beat_lease (id) VALUES (1);
    `,
  },
  {
    id: 9,
    name: 'workflows',
    sql: `
      -- A chain, group or chord (docs/workflows.md). state stays PENDING until the workflow
      -- ends; result and error are then written once, under the row's lock.
      CREATE TABLE workflows (
        id                text PRIMARY KEY,
        kind              text NOT NULL CHECK (kind IN ('chain', 'group', 'chord')),
        state             text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SUCCESS', 'FAILURE')),
        result            jsonb,
        error_type        text,
        error_message     text,
        error_task_id     text,
        -- Tasks counted toward completion: a group's members, a chord's header; a chain's steps.
        size              integer NOT NULL CHECK (size > 0),
        completed         integer NOT NULL DEFAULT 0,
        -- Set once the chord's body was published (confirmed): a redelivered header task that
        -- finds it unset publishes the body again, under the same task id.
        body_published_at timestamptz,
        owner             text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        finished_at       timestamptz
      );
      -- Its tasks, in order. completed_at is set once per task, in the transaction that adds
      -- it to workflows.completed: a redelivered or re-run task counts once.
      CREATE TABLE workflow_tasks (
        workflow_id  text NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
        task_id      text NOT NULL,
        position     integer NOT NULL,
        role         text NOT NULL CHECK (role IN ('step', 'member', 'header', 'body')),
        name         text NOT NULL,
        completed_at timestamptz,
        PRIMARY KEY (workflow_id, task_id)
      );
      CREATE INDEX workflow_tasks_task ON workflow_tasks (task_id);
    `,
  },
  {
    id: 10,
    name: 'task progress and event log',
    sql: `
      -- What a running task reports besides its result (ctx.progress, ctx.stream, ctx.logger):
      -- one row per entry, replayed to event streams that open late or resume. The id is the
      -- entry's sequence number: one worker writes a task's entries one batch after the other,
      -- so within a task ids grow in the order the task reported. The worker bounds a task's
      -- entries (MAX_TASK_EVENTS); they go with the task (retention deletes the task row).
      CREATE TABLE task_events (
        id         bigserial PRIMARY KEY,
        task_id    text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        kind       text NOT NULL CHECK (kind IN ('progress', 'output', 'log')),
        data       jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX task_events_task_id_idx ON task_events (task_id, id);

      -- The latest progress of each task that reported one (also past the log's bound).
      CREATE TABLE task_progress (
        task_id    text PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
        fraction   double precision NOT NULL CHECK (fraction >= 0 AND fraction <= 1),
        message    text,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 11,
    name: 'flow control by key',
    sql: `
      -- Per-key concurrency, fleet-wide (defineTask's \`concurrency\`): one row per running task
      -- of a limited task type. A (task_name, flow_key) pair has at most its limit of rows that
      -- have not expired; the holder renews expires_at while the task runs, so a worker killed
      -- with -9 gives its slots back when they expire. The row is keyed by task id, so a
      -- redelivered copy of a task takes its own slot again instead of waiting for it.
      CREATE TABLE flow_slots (
        task_name   text NOT NULL,
        flow_key    text NOT NULL,
        task_id     text NOT NULL,
        holder      text NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL,
        PRIMARY KEY (task_name, flow_key, task_id)
      );
      CREATE INDEX flow_slots_holder_idx ON flow_slots (holder);
      CREATE INDEX flow_slots_expires_idx ON flow_slots (expires_at);

      -- Tasks waiting for a slot of their key: acked off the queue and kept here (not in a
      -- worker's memory), published again, oldest first per key, when a slot of that key frees.
      -- dispatched_at is set when a waiting task was handed back to the broker; the row goes
      -- once its publish is confirmed, and one left behind by a crash is published again.
      CREATE TABLE flow_waiting (
        seq           bigserial PRIMARY KEY,
        task_name     text NOT NULL,
        flow_key      text NOT NULL,
        task_id       text NOT NULL UNIQUE,
        queue         text NOT NULL,
        content       bytea NOT NULL,
        properties    jsonb NOT NULL,
        parked_at     timestamptz NOT NULL DEFAULT now(),
        dispatched_at timestamptz
      );
      CREATE INDEX flow_waiting_key_idx ON flow_waiting (task_name, flow_key, seq);

      -- Keyed, fleet-wide rate limits (defineTask's \`rateLimit\`), as a generic cell rate
      -- algorithm: next_at is when the key's next unit of budget is free; a task reserves
      -- next_at and moves it on by units / rate. paused_until is set by ctx.backoff() or a
      -- RateLimitedError: nothing of that key starts before it.
      CREATE TABLE flow_rates (
        task_name    text NOT NULL,
        flow_key     text NOT NULL,
        next_at      timestamptz NOT NULL DEFAULT now(),
        paused_until timestamptz,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_name, flow_key)
      );
    `,
  },
  {
    id: 13,
    name: 'dedupe keys',
    // options.dedupe's keys are idempotency_keys rows ("dedupe <task> <owner> <key>", submit/dedupe.ts). dedupe_mode: the mode that claimed it (NULL: an Idempotency-Key); run_at: a debounced task's eta.
    sql: 'ALTER TABLE idempotency_keys ADD COLUMN dedupe_mode text, ADD COLUMN run_at timestamptz;',
  },
];
