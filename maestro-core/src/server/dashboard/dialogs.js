// Forms: the login, a new task, a block reason, a worker to spawn. Each resolves with what
// was entered, or null when cancelled; the caller makes the API call.

import { h } from './dom.js';

/** Shows a modal <dialog> with `fields`; resolves with the FormData, or null. */
function modal(title, fields, submitLabel, id) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'form-error', hidden: true });
    const form = h(
      'form',
      { method: 'dialog', class: 'form' },
      h('h2', null, title),
      fields,
      error,
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', value: 'cancel', onclick: () => done(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, submitLabel),
      ),
    );
    const dlg = h('dialog', { id }, form);
    let settled = false;
    const done = (v) => {
      if (settled) return;
      settled = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const bad = [...form.querySelectorAll('[required]')].find((el) => !String(el.value).trim());
      if (bad) {
        error.textContent = `${bad.dataset.label ?? bad.name} is required.`;
        error.hidden = false;
        bad.focus();
        return;
      }
      done(data);
    });
    dlg.addEventListener('cancel', () => done(null));
    document.body.appendChild(dlg);
    dlg.showModal();
    form.querySelector('input, textarea, select')?.focus();
  });
}

const field = (label, control) => h('label', { class: 'field' }, h('span', null, label), control);

/** The tasks a form can name, open ones first. */
function taskOptions(tasks, selected) {
  const rank = { in_progress: 0, pending: 1, blocked: 2, completed: 3, cancelled: 4 };
  return [...tasks]
    .sort((a, b) => (rank[a.status] ?? 5) - (rank[b.status] ?? 5) || a.title.localeCompare(b.title))
    .map((t) => h('option', { value: t.id, selected: selected === t.id }, `${t.title} (${t.id}, ${t.status})`));
}

/** {title, description, priority, labels, dependsOn} or null. */
export async function newTask(tasks) {
  const open = tasks.filter((t) => t.status !== 'cancelled');
  const data = await modal(
    'New task',
    [
      field('Title', h('input', { name: 'title', required: true, maxlength: 500, 'data-label': 'The title', autocomplete: 'off' })),
      field('Description', h('textarea', { name: 'description', rows: 4 })),
      field(
        'Priority',
        h('select', { name: 'priority' }, ['medium', 'high', 'low'].map((p) => h('option', { value: p }, p))),
      ),
      field('Labels (comma-separated)', h('input', { name: 'labels', autocomplete: 'off' })),
      open.length ? field('Depends on', h('select', { name: 'dependsOn', multiple: true, size: Math.min(6, open.length) }, taskOptions(open))) : null,
    ],
    'Create',
    'new-task-dialog',
  );
  if (!data) return null;
  return {
    title: data.get('title').trim(),
    description: data.get('description').trim() || undefined,
    priority: data.get('priority'),
    labels: data
      .get('labels')
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
    dependsOn: data.getAll('dependsOn'),
  };
}

/** The reason, or null. */
export async function blockReason(task) {
  const data = await modal(
    `Block “${task.title}”`,
    [field('Reason', h('textarea', { name: 'reason', rows: 3, required: true, 'data-label': 'A reason' }))],
    'Block',
    'block-dialog',
  );
  return data ? data.get('reason').trim() : null;
}

/** {taskIds, agent?, skill?, name?} or null. */
export async function spawnWorker(tasks, selected) {
  const open = tasks.filter((t) => t.status !== 'completed' && t.status !== 'cancelled');
  if (!open.length) return { empty: true };
  const data = await modal(
    'Spawn a worker',
    [
      field('Task', h('select', { name: 'task', required: true, 'data-label': 'A task' }, taskOptions(open, selected))),
      field('Agent profile (empty: the host’s default)', h('input', { name: 'agent', autocomplete: 'off', placeholder: 'claude, codex, gemini, …' })),
      field('Skill (optional)', h('input', { name: 'skill', autocomplete: 'off', placeholder: 'maestro-worker' })),
      field('Name (optional)', h('input', { name: 'name', autocomplete: 'off' })),
    ],
    'Spawn',
    'spawn-dialog',
  );
  if (!data) return null;
  const opt = (k) => data.get(k).trim() || undefined;
  return { taskIds: [data.get('task')], agent: opt('agent'), skill: opt('skill'), name: opt('name'), role: 'worker' };
}

/** The login form, in `main`; resolves with the token entered. */
export function login(main, message) {
  return new Promise((resolve) => {
    const input = h('input', { type: 'password', name: 'token', id: 'token', required: true, autocomplete: 'current-password' });
    const form = h(
      'form',
      { class: 'form login', id: 'login' },
      h('h2', null, 'Sign in to this Maestro server'),
      h('p', { class: 'muted' }, 'The server needs its token (maestro serve --token, or MAESTRO_TOKEN). It is kept for this tab only.'),
      message ? h('p', { class: 'form-error', id: 'login-error' }, message) : null,
      field('Token', input),
      h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (t) resolve(t);
    });
    main.replaceChildren(form);
    input.focus();
  });
}
