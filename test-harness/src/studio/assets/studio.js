// The connector studio's page. Every form is made from the descriptor the plugin returned at
// `initialize` (GET /api/descriptor): fields in `x-order`, `title` as the label, `description`
// as the help text, `enum` + `x-enum-labels` (or `oneOf` constants) as dropdowns, `default`s,
// `required` and `if`/`then` rules, `x-visible-when`, `x-overrides`, `x-widget`, and secrets
// (`x-secret` / `writeOnly`) that are handed to the studio once and never shown again.
'use strict';

(function () {
  const studio = {
    descriptor: null,
    componentsDir: '',
    forms: {},
  };

  // ---- small helpers -------------------------------------------------------------------

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else if (value === true) node.setAttribute(name, '');
      else node.setAttribute(name, String(value));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    }
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function draftId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return window.crypto.randomUUID();
    }
    return 'd-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      return { status: 0, body: { error: 'the studio cannot be reached: is it still running?' } };
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (err) {
      answer = { error: 'the studio answered ' + response.status + ' without JSON' };
    }
    return { status: response.status, body: answer };
  }

  function isSecret(schema) {
    return schema['x-secret'] === true || schema.writeOnly === true;
  }

  function isReference(value) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    const keys = Object.keys(value);
    return keys.length === 1 && (keys[0] === 'env' || keys[0] === 'file') && typeof value[keys[0]] === 'string';
  }

  // The values a dropdown offers, with their labels: `enum` + `x-enum-labels`, or `oneOf`
  // constants (their `title`, else the value; their `description` as the option's title).
  function choices(schema) {
    if (Array.isArray(schema.enum)) {
      const labels = schema['x-enum-labels'] || {};
      return schema.enum.map((value) => ({ value, label: labels[value] || String(value) }));
    }
    if (Array.isArray(schema.oneOf) && schema.oneOf.every((v) => v && v.const !== undefined)) {
      const labels = schema['x-enum-labels'] || {};
      return schema.oneOf.map((v) => ({
        value: v.const,
        label: labels[v.const] || v.title || String(v.const),
        description: v.description,
      }));
    }
    return null;
  }

  function widgetOf(schema) {
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
    if (type === 'array') {
      return schema.items && choices(schema.items) ? 'multiselect' : 'list';
    }
    if (choices(schema)) return 'dropdown';
    if (type === 'boolean') return 'checkbox';
    if (type === 'integer' || type === 'number') return 'number';
    const hinted = schema['x-widget'];
    if (hinted === 'textarea' || hinted === 'browse' || hinted === 'url') return hinted;
    if (isSecret(schema) || hinted === 'password') return 'password';
    return 'text';
  }

  // ---- rules: visibility, requirement, overrides ---------------------------------------------

  // Whether an `if` schema (of the subset descriptors use: `properties` with `const` or `enum`,
  // and `required`) holds for the values.
  function holds(condition, values) {
    if (!condition || typeof condition !== 'object') return true;
    for (const key of condition.required || []) {
      if (values[key] === undefined) return false;
    }
    for (const [key, rule] of Object.entries(condition.properties || {})) {
      if (values[key] === undefined) continue;
      if (rule.const !== undefined && values[key] !== rule.const) return false;
      if (Array.isArray(rule.enum) && !rule.enum.includes(values[key])) return false;
    }
    return true;
  }

  function requiredKeys(schema, values) {
    const required = new Set(schema.required || []);
    for (const part of schema.allOf || []) {
      if (part.if && part.then && holds(part.if, values)) {
        for (const key of part.then.required || []) required.add(key);
      }
    }
    return required;
  }

  function visible(fieldSchema, values) {
    const when = fieldSchema['x-visible-when'];
    if (!when) return true;
    return Object.entries(when).every(([key, allowed]) => allowed.includes(values[key]));
  }

  // ---- one form, made from a schema ----------------------------------------------------------

  class SchemaForm {
    constructor(prefix, part, container) {
      this.prefix = prefix;
      this.part = part;
      this.container = container;
      this.schema = { properties: {} };
      this.fields = new Map();
      this.draft = draftId();
      this.loadedFile = null;
    }

    id(key, suffix) {
      return this.prefix + '-' + key + (suffix ? '-' + suffix : '');
    }

    build(schema, values) {
      this.schema = schema || { properties: {} };
      this.fields = new Map();
      this.draft = draftId();
      this.container.replaceChildren();
      const entries = Object.entries(this.schema.properties || {});
      entries.sort((a, b) => (a[1]['x-order'] ?? 1e9) - (b[1]['x-order'] ?? 1e9));
      for (const [key, fieldSchema] of entries) {
        const field = this.makeField(key, fieldSchema);
        this.fields.set(key, field);
        this.container.append(field.wrapper);
      }
      this.fill(values);
    }

    // Puts values in the fields: a file's, or the defaults when `values` is null.
    fill(values) {
      for (const [key, field] of this.fields) {
        const given = values ? values[key] : undefined;
        const value = values ? given : field.schema.default;
        field.touched = values ? given !== undefined : field.schema.default !== undefined;
        field.set(value === undefined ? null : value);
      }
      this.refresh();
    }

    makeField(key, schema) {
      const widget = widgetOf(schema);
      const secret = isSecret(schema);
      const inputId = this.id(key);
      const helpId = this.id(key, 'help');
      const errorId = this.id(key, 'error');
      const overrideId = this.id(key, 'override');
      const field = { key, schema, widget, secret, touched: false, source: 'value' };
      const wrapper = el('div', { class: 'field widget-' + widget, id: this.id(key, 'field') });
      field.wrapper = wrapper;
      const requiredMark = el('span', { class: 'req', hidden: true, text: '(required)' });
      field.requiredMark = requiredMark;
      const help = schema.description ? el('p', { class: 'help', id: helpId, text: schema.description }) : null;
      const error = el('p', { class: 'error-text', id: errorId, hidden: true });
      const override = el('p', { class: 'note', id: overrideId, hidden: true });
      field.error = error;
      field.override = override;
      const describedBy = [help ? helpId : null, overrideId, errorId].filter(Boolean).join(' ');
      const title = schema.title || key;
      const onChange = () => {
        field.touched = true;
        this.clearError(field);
        this.refresh();
      };

      if (widget === 'checkbox') {
        const input = el('input', { type: 'checkbox', id: inputId, 'aria-describedby': describedBy });
        input.addEventListener('change', onChange);
        wrapper.append(el('div', { class: 'check' }, [input, el('label', { for: inputId, text: title }, [' ', requiredMark])]), help || '', override, error);
        field.input = input;
        field.set = (v) => { input.checked = v === true; };
        field.get = () => input.checked;
        return field;
      }

      if (widget === 'multiselect') {
        const box = el('fieldset', { class: 'multiselect', id: inputId, 'aria-describedby': describedBy });
        box.append(el('legend', { text: title }, [' ', requiredMark]));
        const options = choices(schema.items);
        const boxes = options.map((option, n) => {
          const optionId = this.id(key, 'option-' + n);
          const input = el('input', { type: 'checkbox', id: optionId, value: String(option.value) });
          input.addEventListener('change', onChange);
          const label = el('label', { for: optionId, text: option.label });
          if (option.description) label.title = option.description;
          box.append(el('div', { class: 'check' }, [input, label]));
          return { input, value: option.value };
        });
        wrapper.append(box, help || '', override, error);
        field.input = boxes.length ? boxes[0].input : box;
        field.set = (v) => {
          const chosen = Array.isArray(v) ? v : [];
          for (const b of boxes) b.input.checked = chosen.includes(b.value);
        };
        field.get = () => boxes.filter((b) => b.input.checked).map((b) => b.value);
        return field;
      }

      const label = el('label', { for: inputId, text: title }, [' ', requiredMark]);
      let input;
      if (widget === 'dropdown') {
        input = el('select', { id: inputId, 'aria-describedby': describedBy });
        const blank = el('option', { value: '', text: '(not set)' });
        field.blank = blank;
        input.append(blank);
        for (const option of choices(schema)) {
          const node = el('option', { value: String(option.value), text: option.label });
          if (option.description) node.title = option.description;
          input.append(node);
        }
        input.addEventListener('change', onChange);
      } else if (widget === 'textarea' || widget === 'list') {
        input = el('textarea', {
          id: inputId,
          rows: widget === 'list' ? 3 : 6,
          spellcheck: 'false',
          'aria-describedby': describedBy,
        });
        input.addEventListener('input', onChange);
        input.addEventListener('change', onChange);
      } else if (widget === 'number') {
        input = el('input', {
          type: 'number',
          id: inputId,
          min: schema.minimum,
          max: schema.maximum,
          step: schema.type === 'integer' ? 1 : 'any',
          inputmode: 'numeric',
          'aria-describedby': describedBy,
        });
        input.addEventListener('input', onChange);
        input.addEventListener('change', onChange);
      } else {
        input = el('input', {
          type: widget === 'password' ? 'password' : widget === 'url' ? 'url' : 'text',
          id: inputId,
          autocomplete: widget === 'password' ? 'new-password' : 'off',
          spellcheck: 'false',
          'aria-describedby': describedBy,
        });
        input.addEventListener('input', onChange);
        input.addEventListener('change', onChange);
      }
      field.input = input;
      wrapper.append(label);
      if (help) wrapper.append(help);
      if (widget === 'list') {
        wrapper.append(el('p', { class: 'help', text: 'One per line.' }));
      }

      if (secret) {
        this.makeSecretControls(field, wrapper, input, title);
      } else {
        this.makeReferenceNote(field, wrapper, title);
        wrapper.append(input);
      }
      if (widget === 'textarea') {
        wrapper.append(this.makeUpload(field, input, title));
      }
      if (widget === 'browse') {
        wrapper.append(this.makeBrowse(field, input, title));
      }
      wrapper.append(override, error);

      field.set = (v) => {
        field.reference = null;
        if (field.referenceNote) field.referenceNote.hidden = true;
        input.hidden = false;
        if (secret) {
          this.setSecret(field, v);
          return;
        }
        if (isReference(v)) {
          this.setReference(field, v);
          return;
        }
        if (widget === 'list') input.value = Array.isArray(v) ? v.join('\n') : '';
        else if (v === null || v === undefined) input.value = '';
        else input.value = String(v);
      };
      field.get = () => {
        if (field.reference) return field.reference;
        if (widget === 'list') {
          const items = input.value.split('\n').map((s) => s.trim()).filter((s) => s.length);
          return field.touched ? items : items.length ? items : undefined;
        }
        if (widget === 'number') {
          if (input.value.trim() === '') return undefined;
          const n = Number(input.value);
          return Number.isFinite(n) ? n : input.value;
        }
        return input.value === '' ? undefined : input.value;
      };
      return field;
    }

    // A non-secret field whose file holds a reference: said so, with a way back to a value.
    makeReferenceNote(field, wrapper, title) {
      const text = el('span');
      const button = el('button', { type: 'button', class: 'link', text: 'Type a value instead' });
      button.setAttribute('aria-label', 'Type a value for ' + title + ' instead of the reference');
      button.addEventListener('click', () => {
        field.reference = null;
        note.hidden = true;
        field.input.hidden = false;
        field.touched = true;
        field.input.focus();
      });
      const note = el('p', { class: 'note', id: this.id(field.key, 'reference'), hidden: true }, [text, ' ', button]);
      field.referenceNote = note;
      field.referenceText = text;
      wrapper.append(note);
    }

    setReference(field, reference) {
      field.reference = reference;
      field.input.value = '';
      field.input.hidden = true;
      field.referenceText.textContent = reference.env !== undefined
        ? 'From the environment variable ' + reference.env + '.'
        : 'From the file ' + reference.file + ' (relative to the component folder).';
      field.referenceNote.hidden = false;
    }

    // A secret: where its value comes from (typed, an environment variable, a file), and once
    // the studio holds a value, "a value is set" with a way to replace it.
    makeSecretControls(field, wrapper, input, title) {
      const name = this.id(field.key, 'source');
      const sources = [
        ['value', 'Type or paste the value'],
        ['env', 'Environment variable'],
        ['file', 'File'],
      ];
      const group = el('fieldset', { class: 'source', id: name });
      group.append(el('legend', { class: 'sr-only', text: 'Where the ' + title + ' comes from' }));
      field.radios = {};
      for (const [value, text] of sources) {
        const radioId = name + '-' + value;
        const radio = el('input', { type: 'radio', name, id: radioId, value });
        radio.addEventListener('change', () => {
          if (radio.checked) this.showSource(field, value);
          field.touched = true;
          this.clearError(field);
        });
        field.radios[value] = radio;
        group.append(el('span', { class: 'radio' }, [radio, el('label', { for: radioId, text })]));
      }
      wrapper.append(group);

      const setNote = el('p', { class: 'note set-note', id: this.id(field.key, 'set'), hidden: true }, [
        el('span', { text: 'A value is set. It is kept by the studio and never shown again.' }),
        ' ',
      ]);
      const replace = el('button', { type: 'button', class: 'link', id: this.id(field.key, 'replace'), text: 'Replace it' });
      replace.setAttribute('aria-label', 'Replace the ' + title);
      replace.addEventListener('click', () => {
        field.isSet = false;
        setNote.hidden = true;
        input.hidden = false;
        input.value = '';
        input.focus();
      });
      setNote.append(replace);
      field.setNote = setNote;
      wrapper.append(setNote, input);

      const envId = this.id(field.key, 'env');
      const env = el('div', { class: 'ref-input', hidden: true }, [
        el('label', { for: envId, text: 'Environment variable name (' + title + ')' }),
        el('input', { type: 'text', id: envId, spellcheck: 'false', autocomplete: 'off', placeholder: 'VARIABLE_NAME' }),
      ]);
      const pathId = this.id(field.key, 'path');
      const path = el('div', { class: 'ref-input', hidden: true }, [
        el('label', { for: pathId, text: 'File path, relative to the component folder (' + title + ')' }),
        el('input', { type: 'text', id: pathId, spellcheck: 'false', autocomplete: 'off', placeholder: 'secrets/name.pem' }),
      ]);
      field.envBox = env;
      field.pathBox = path;
      field.envInput = env.querySelector('input');
      field.pathInput = path.querySelector('input');
      wrapper.append(env, path);
    }

    showSource(field, source) {
      field.source = source;
      field.radios[source].checked = true;
      const typed = source === 'value';
      field.input.hidden = !typed || field.isSet;
      field.setNote.hidden = !(typed && field.isSet);
      if (field.upload) field.upload.hidden = !typed;
      field.envBox.hidden = source !== 'env';
      field.pathBox.hidden = source !== 'file';
    }

    setSecret(field, value) {
      field.isSet = false;
      field.input.value = '';
      field.envInput.value = '';
      field.pathInput.value = '';
      if (isReference(value)) {
        if (value.env !== undefined) {
          field.envInput.value = value.env;
          this.showSource(field, 'env');
        } else {
          field.pathInput.value = value.file;
          this.showSource(field, 'file');
        }
        return;
      }
      field.isSet = !!(value && typeof value === 'object' && value.set === true);
      this.showSource(field, 'value');
    }

    // What the page sends for a secret: a new value, {"keep": true}, or a reference.
    secretValue(field) {
      if (field.source === 'env') {
        const name = field.envInput.value.trim();
        return name ? { env: name } : undefined;
      }
      if (field.source === 'file') {
        const path = field.pathInput.value.trim();
        return path ? { file: path } : undefined;
      }
      if (field.isSet) return { keep: true };
      return field.input.value !== '' ? { value: field.input.value } : undefined;
    }

    // A PEM field: paste the text, or choose a file (read in the page with FileReader).
    makeUpload(field, input, title) {
      const uploadId = this.id(field.key, 'upload');
      const chooser = el('input', { type: 'file', id: uploadId, accept: '.pem,.crt,.cer,.key,.txt,text/plain' });
      const note = el('span', { class: 'help', id: this.id(field.key, 'upload-note') });
      chooser.addEventListener('change', () => {
        const file = chooser.files && chooser.files[0];
        if (!file) return;
        const reader = new FileReader();
        reader.addEventListener('load', () => {
          if (field.secret) {
            field.isSet = false;
            this.showSource(field, 'value');
          }
          input.value = String(reader.result);
          chooser.value = '';
          field.touched = true;
          this.clearError(field);
          note.textContent = 'Read ' + file.name + ' (' + file.size + ' bytes).';
        });
        reader.addEventListener('error', () => {
          note.textContent = 'Could not read ' + file.name + '.';
        });
        reader.readAsText(file);
      });
      const box = el('div', { class: 'upload' }, [
        el('label', { for: uploadId, text: 'Or choose a file for the ' + title }),
        chooser,
        note,
      ]);
      field.upload = box;
      return box;
    }

    // A field the plugin can list objects for (`x-widget: browse`): a filter, a Browse button,
    // and the list found; choosing one puts its name in the field.
    makeBrowse(field, input, title) {
      const filterId = this.id(field.key, 'filter');
      const listId = this.id(field.key, 'results');
      const filter = el('input', { type: 'text', id: filterId, spellcheck: 'false', autocomplete: 'off', placeholder: 'prefix' });
      const button = el('button', { type: 'button', class: 'secondary', id: this.id(field.key, 'browse'), text: 'Browse' });
      const list = el('select', { id: listId, size: 6, hidden: true });
      const listLabel = el('label', { for: listId, text: 'Found (choose one)', hidden: true });
      const status = el('p', { class: 'help', id: this.id(field.key, 'browse-status'), role: 'status', 'aria-live': 'polite' });
      button.addEventListener('click', async () => {
        status.textContent = 'Listing…';
        const answer = await browseFor(this, filter.value);
        list.replaceChildren();
        if (answer.status !== 200) {
          status.textContent = 'Browse failed: ' + describeFailure(answer.body);
          if (answer.body && answer.body.fieldErrors) {
            studio.forms.connection.showErrors(answer.body.fieldErrors);
          }
          list.hidden = true;
          listLabel.hidden = true;
          return;
        }
        const found = answer.body.objectTypes || [];
        for (const object of found) {
          const option = el('option', { value: object.label || object.id, text: object.label || object.id });
          option.title = object.id;
          list.append(option);
        }
        list.hidden = found.length === 0;
        listLabel.hidden = found.length === 0;
        status.textContent = found.length
          ? found.length + ' found: choose one to use it.'
          : 'None found' + (filter.value ? ' starting with ' + filter.value : '') + '.';
      });
      list.addEventListener('change', () => {
        input.value = list.value;
        field.reference = null;
        field.touched = true;
        this.clearError(field);
        this.refresh();
      });
      return el('div', { class: 'browse' }, [
        el('div', { class: 'browse-row' }, [
          el('label', { for: filterId, text: 'Filter (' + title + ' starting with)' }),
          filter,
          button,
        ]),
        status,
        listLabel,
        list,
      ]);
    }

    // The values of the fields as the rules see them (references and secrets count as set).
    currentValues() {
      const values = {};
      for (const [key, field] of this.fields) {
        const value = field.secret ? this.secretValue(field) : field.get();
        if (value !== undefined) values[key] = value;
      }
      return values;
    }

    // Shows and hides fields, marks the required ones and the overridden ones.
    refresh() {
      const values = this.currentValues();
      const required = requiredKeys(this.schema, values);
      for (const [key, field] of this.fields) {
        const shown = visible(field.schema, values);
        field.wrapper.hidden = !shown;
        field.visible = shown;
        const isRequired = required.has(key);
        field.requiredMark.hidden = !isRequired;
        if (field.input && field.input.setAttribute) {
          if (isRequired) field.input.setAttribute('aria-required', 'true');
          else field.input.removeAttribute('aria-required');
        }
        if (field.blank) field.blank.hidden = isRequired || field.schema.default !== undefined;
        field.override.hidden = true;
      }
      // `x-overrides`: a field that, when set, is used instead of another.
      for (const [key, field] of this.fields) {
        const target = this.fields.get(field.schema['x-overrides']);
        const value = values[key];
        if (!target || !field.visible || value === undefined || value === '') continue;
        const shownValue = typeof value === 'string' ? ' (' + value + ')' : '';
        target.override.textContent = 'Not used: ' + (field.schema.title || key) + shownValue + ' is set and is used instead.';
        target.override.hidden = false;
      }
    }

    // The form as the studio's API takes it (a draft), visible fields only.
    toDraft(id, operationType) {
      const values = {};
      for (const [key, field] of this.fields) {
        if (!field.visible) continue;
        let value;
        if (field.secret) value = this.secretValue(field);
        else if (field.widget === 'checkbox' || field.widget === 'multiselect') value = field.touched ? field.get() : undefined;
        else value = field.get();
        if (value !== undefined) values[key] = value;
      }
      const draft = { draft: this.draft, id, kind: this.part, fields: values };
      if (operationType) draft.operationType = operationType;
      return draft;
    }

    // Hands the secrets typed since the last call to the studio, which keeps them for this
    // draft; the fields then show "a value is set" and the page forgets the values.
    async handOverSecrets() {
      const values = {};
      for (const [key, field] of this.fields) {
        if (field.secret && field.visible && field.source === 'value' && !field.isSet && field.input.value !== '') {
          values[key] = field.input.value;
        }
      }
      if (Object.keys(values).length === 0) return true;
      const answer = await api('POST', '/api/secrets', { draft: this.draft, kind: this.part, operationType: this.operationType || undefined, fields: values });
      for (const key of Object.keys(values)) values[key] = '';
      if (answer.status !== 200) return answer;
      for (const key of answer.body.kept || []) {
        const field = this.fields.get(key);
        field.input.value = '';
        field.isSet = true;
        this.showSource(field, 'value');
      }
      return true;
    }

    clearError(field) {
      field.error.hidden = true;
      field.error.textContent = '';
      if (field.input && field.input.removeAttribute) field.input.removeAttribute('aria-invalid');
    }

    clearErrors() {
      for (const field of this.fields.values()) this.clearError(field);
      for (const extra of ['id']) {
        const error = byId(this.prefix + '-' + extra + '-error');
        if (error) {
          error.hidden = true;
          error.textContent = '';
          byId(this.prefix + '-' + extra).removeAttribute('aria-invalid');
        }
      }
    }

    // Shows field errors (field, label, message) next to their fields; returns those of
    // fields the form does not show, for the summary.
    showErrors(errors) {
      const elsewhere = [];
      let first = null;
      for (const error of errors) {
        const field = this.fields.get(error.field);
        const text = (error.label || error.field) + ': ' + error.message;
        if (field && field.visible) {
          field.error.textContent = text;
          field.error.hidden = false;
          if (field.input && field.input.setAttribute) field.input.setAttribute('aria-invalid', 'true');
          first = first || field;
        } else if (byId(this.prefix + '-' + error.field + '-error')) {
          const node = byId(this.prefix + '-' + error.field + '-error');
          node.textContent = text;
          node.hidden = false;
          byId(this.prefix + '-' + error.field).setAttribute('aria-invalid', 'true');
        } else {
          elsewhere.push(error);
        }
      }
      if (first && first.input && first.input.focus) first.input.focus();
      return elsewhere;
    }
  }

  // ---- status messages -----------------------------------------------------------------------

  function describeFailure(body) {
    if (!body) return 'no answer';
    if (body.fieldErrors && body.fieldErrors.length) {
      return body.fieldErrors.map((e) => (e.label || e.field) + ': ' + e.message).join('; ');
    }
    return body.error || 'unknown error';
  }

  function setStatus(id, kind, text, details) {
    const box = byId(id);
    box.replaceChildren();
    box.className = 'status ' + (kind || '');
    if (!text) return;
    box.append(el('p', { text }));
    if (details && details.length) {
      box.append(el('ul', {}, details.map((d) => el('li', { text: d }))));
    }
  }

  // Shows a 422 answer's field errors on the form they belong to.
  function showFieldFailure(statusId, what, body) {
    const form = body.part === 'operation' ? studio.forms.operation : studio.forms.connection;
    const elsewhere = form.showErrors(body.fieldErrors || []);
    const count = (body.fieldErrors || []).length;
    const where = body.part === 'operation' ? 'the operation' : 'the connection';
    setStatus(
      statusId,
      'failed',
      what + ': ' + count + (count === 1 ? ' field of ' : ' fields of ') + where + ' need' + (count === 1 ? 's' : '') + ' attention.',
      (body.fieldErrors || []).map((e) => (e.label || e.field) + ': ' + e.message)
    );
    return elsewhere;
  }

  // ---- actions -------------------------------------------------------------------------------

  function connectionDraft() {
    const form = studio.forms.connection;
    return form.toDraft(byId('conn-id').value.trim() || 'conn-studio');
  }

  function operationDraft() {
    const form = studio.forms.operation;
    return form.toDraft(byId('op-id').value.trim() || 'op-studio', byId('op-type').value);
  }

  async function handOver(statusId, forms) {
    for (const form of forms) {
      const handed = await form.handOverSecrets();
      if (handed !== true) {
        if (handed.status === 422) showFieldFailure(statusId, 'Not sent', handed.body);
        else setStatus(statusId, 'failed', 'The secrets could not be handed to the studio: ' + describeFailure(handed.body));
        return false;
      }
    }
    return true;
  }

  async function browseFor(form, filter) {
    if (!(await handOver('op-status', [studio.forms.connection]))) {
      return { status: 0, body: { error: 'see the status below' } };
    }
    return api('POST', '/api/browse', {
      connection: connectionDraft(),
      operationType: byId('op-type').value,
      filter: filter || undefined,
    });
  }

  async function testConnection(event) {
    if (event) event.preventDefault();
    const form = studio.forms.connection;
    form.clearErrors();
    const steps = byId('conn-steps');
    steps.hidden = true;
    steps.replaceChildren();
    setStatus('conn-status', 'busy', 'Testing the connection…');
    const button = byId('test-connection');
    button.disabled = true;
    try {
      if (!(await handOver('conn-status', [form]))) return;
      const answer = await api('POST', '/api/test-connection', { connection: connectionDraft() });
      if (answer.status === 422) {
        showFieldFailure('conn-status', 'Test Connection did not run', answer.body);
        return;
      }
      if (answer.status !== 200) {
        setStatus('conn-status', 'failed', 'Test Connection could not run: ' + describeFailure(answer.body));
        return;
      }
      for (const step of answer.body.steps || []) {
        steps.append(
          el('li', { class: 'step ' + step.status }, [
            el('span', { class: 'badge', text: step.status }),
            ' ',
            el('strong', { text: step.name }),
            step.message ? el('span', { class: 'message', text: ': ' + step.message }) : null,
          ])
        );
      }
      steps.hidden = false;
      setStatus(
        'conn-status',
        answer.body.ok ? 'passed' : 'failed',
        answer.body.ok ? 'Test Connection passed.' : 'Test Connection failed: see the step marked failed.'
      );
    } finally {
      button.disabled = false;
    }
  }

  async function save(form, statusId, draft, storeSecrets, overwrite) {
    form.clearErrors();
    setStatus(statusId, 'busy', 'Saving…');
    if (!(await handOver(statusId, [form]))) return;
    const fresh = form === studio.forms.connection ? connectionDraft() : operationDraft();
    fresh.id = draft.id;
    const answer = await api('POST', '/api/components/save', {
      component: fresh,
      storeSecrets,
      overwrite: overwrite || form.loadedFile === draft.id + '.json',
    });
    if (answer.status === 409) {
      const box = byId(statusId);
      setStatus(statusId, 'warning', answer.body.error);
      const replace = el('button', { type: 'button', id: form.prefix + '-replace-file', text: 'Replace ' + draft.id + '.json' });
      replace.addEventListener('click', () => save(form, statusId, draft, storeSecrets, true));
      box.append(replace);
      return;
    }
    if (answer.status === 422) {
      showFieldFailure(statusId, 'Not saved', answer.body);
      return;
    }
    if (answer.status !== 200) {
      setStatus(statusId, 'failed', 'Not saved: ' + describeFailure(answer.body));
      return;
    }
    form.loadedFile = answer.body.file;
    const details = [];
    for (const secret of answer.body.secretFiles || []) {
      details.push('A secret was written to ' + secret + ' (readable by you only); the file refers to it.');
    }
    if (answer.body.fieldErrors && answer.body.fieldErrors.length) {
      form.showErrors(answer.body.fieldErrors);
      setStatus(
        statusId,
        'warning',
        'Saved ' + answer.body.file + ', but test-harness run will refuse it until these fields are fixed:',
        answer.body.fieldErrors.map((e) => (e.label || e.field) + ': ' + e.message)
      );
    } else {
      setStatus(statusId, 'passed', 'Saved ' + answer.body.file + ' in ' + studio.componentsDir + '.', details);
    }
    await refreshFiles();
  }

  async function runOnce() {
    const opForm = studio.forms.operation;
    opForm.clearErrors();
    studio.forms.connection.clearErrors();
    const results = byId('op-results');
    results.hidden = true;
    results.replaceChildren();
    setStatus('op-status', 'busy', 'Running the operation once…');
    const button = byId('op-run');
    button.disabled = true;
    try {
      if (!(await handOver('op-status', [studio.forms.connection, opForm]))) return;
      const answer = await api('POST', '/api/execute', {
        connection: connectionDraft(),
        operation: operationDraft(),
        documents: byId('op-documents').value,
      });
      if (answer.status === 422) {
        showFieldFailure('op-status', 'Not run', answer.body);
        return;
      }
      if (answer.status !== 200) {
        setStatus('op-status', 'failed', 'Not run: ' + describeFailure(answer.body));
        return;
      }
      showResults(answer.body.results || []);
    } finally {
      button.disabled = byId('op-type').selectedOptions[0]?.dataset.listener === 'true';
    }
  }

  function showResults(list) {
    const box = byId('op-results');
    const counts = {};
    for (const result of list) counts[result.status] = (counts[result.status] || 0) + 1;
    const summary = Object.entries(counts).map(([status, n]) => n + ' ' + status).join(', ');
    setStatus(
      'op-status',
      list.every((r) => r.status === 'SUCCESS') ? 'passed' : 'failed',
      list.length + (list.length === 1 ? ' result: ' : ' results: ') + summary + '.'
    );
    for (const result of list) {
      const item = el('li', { class: 'result ' + String(result.status).toLowerCase() });
      item.append(
        el('p', { class: 'result-head' }, [
          el('strong', { text: 'Document ' + (result.index + 1) }),
          ' ',
          el('span', { class: 'badge', text: result.status }),
          result.statusCode ? el('span', { class: 'code', text: ' ' + result.statusCode }) : null,
        ])
      );
      if (result.message) item.append(el('p', { class: 'message', text: result.message }));
      const outputs = result.outputs || [];
      item.append(el('p', { class: 'help', text: outputs.length + (outputs.length === 1 ? ' output' : ' outputs') }));
      outputs.forEach((output, n) => {
        const body = output.data !== undefined ? output.data : '(bytes, base64) ' + (output.dataBase64 || '');
        const rows = Object.entries(output.properties || {}).map(([name, value]) =>
          el('tr', {}, [el('th', { scope: 'row', text: name }), el('td', { text: value })])
        );
        item.append(
          el('details', { class: 'output', open: outputs.length <= 3 }, [
            el('summary', { text: 'Output ' + (n + 1) + ': ' + Object.keys(output.properties || {}).length + ' properties' }),
            el('pre', { class: 'data', text: body }),
            rows.length
              ? el('div', { class: 'table-scroll' }, [
                  el('table', {}, [
                    el('caption', { class: 'sr-only', text: 'Properties of output ' + (n + 1) }),
                    el('thead', {}, [el('tr', {}, [el('th', { scope: 'col', text: 'Property' }), el('th', { scope: 'col', text: 'Value' })])]),
                    el('tbody', {}, rows),
                  ]),
                ])
              : null,
          ])
        );
      });
      box.append(item);
    }
    box.hidden = list.length === 0;
  }

  // ---- the operation type ----------------------------------------------------------------------

  function operationEntry(type) {
    return (studio.descriptor.operations || []).find((op) => op.type === type);
  }

  function selectOperation(type, values) {
    const entry = operationEntry(type);
    if (!entry) return;
    byId('op-type').value = type;
    byId('op-type-help').textContent = entry.description || '';
    const form = studio.forms.operation;
    form.operationType = type;
    form.build(entry.fields, values || null);
    const secrets = Object.values(entry.fields.properties || {}).some(isSecret);
    byId('op-store-secrets-field').hidden = !secrets;
    const idInput = byId('op-id');
    if (!values && (!idInput.value || idInput.dataset.auto === 'true')) {
      idInput.value = 'op-' + type.toLowerCase();
      idInput.dataset.auto = 'true';
    }
    const listener = entry.listener === true;
    const note = byId('try-listener-note');
    note.hidden = !listener;
    note.textContent = listener
      ? entry.label + ' is a listener: configure and save it here, and run it with test-harness listen --process FILE. "Try it" runs the other operations.'
      : '';
    byId('op-run').disabled = listener;
    byId('op-documents').disabled = listener;
    const inputs = (entry.inputProperties || []).map((p) => p.name).join(', ');
    byId('op-documents-help').textContent = entry.takesInput === false
      ? 'This operation takes no input: leave it empty to run it with one empty trigger document.' + (inputs ? ' Properties it reads from a trigger document: ' + inputs + '.' : '')
      : (inputs ? 'Properties it reads: ' + inputs + '.' : '');
    clearResults();
  }

  function clearResults() {
    byId('op-results').hidden = true;
    byId('op-results').replaceChildren();
    setStatus('op-status', '', '');
  }

  // ---- component files ----------------------------------------------------------------------

  async function refreshFiles() {
    const answer = await api('GET', '/api/components');
    const select = byId('file-select');
    const previous = select.value;
    select.replaceChildren();
    const files = (answer.body && answer.body.files) || [];
    if (files.length === 0) {
      select.append(el('option', { value: '', text: '(no component files yet)' }));
    }
    for (const file of files) {
      const what = file.kind === 'operation' ? 'operation ' + (file.operationType || '') : file.kind || 'not a component';
      select.append(el('option', { value: file.file, text: file.file + ' — ' + what }));
    }
    if (previous && files.some((f) => f.file === previous)) select.value = previous;
  }

  async function openFile() {
    const name = byId('file-select').value;
    if (!name) return;
    const draft = draftId();
    const answer = await api('POST', '/api/components/load', { file: name, draft });
    if (answer.status !== 200) {
      setStatus('files-status', 'failed', 'Cannot open ' + name + ': ' + describeFailure(answer.body));
      return;
    }
    const component = answer.body.component;
    if (component.connector !== studio.descriptor.id) {
      setStatus('files-status', 'warning', name + ' is for the connector ' + component.connector + ', not ' + studio.descriptor.id + '.');
    } else {
      setStatus('files-status', 'passed', 'Opened ' + name + '.');
    }
    if (component.kind === 'connection') {
      const form = studio.forms.connection;
      byId('conn-id').value = component.id;
      form.build(studio.descriptor.connection.fields, component.fields || {});
      form.draft = draft;
      form.loadedFile = name;
      setStatus('conn-status', '', '');
      byId('conn-steps').hidden = true;
      selectTab('connection');
    } else {
      const idInput = byId('op-id');
      idInput.value = component.id;
      idInput.dataset.auto = 'false';
      selectOperation(component.operationType, component.fields || {});
      studio.forms.operation.draft = draft;
      studio.forms.operation.loadedFile = name;
      selectTab('operation');
    }
  }

  function newConnection() {
    byId('conn-id').value = 'conn-' + studio.descriptor.id;
    studio.forms.connection.build(studio.descriptor.connection.fields, null);
    studio.forms.connection.loadedFile = null;
    setStatus('conn-status', '', '');
    byId('conn-steps').hidden = true;
    selectTab('connection');
  }

  function newOperation() {
    const idInput = byId('op-id');
    idInput.value = '';
    idInput.dataset.auto = 'true';
    selectOperation(byId('op-type').value || studio.descriptor.operations[0].type, null);
    studio.forms.operation.loadedFile = null;
    selectTab('operation');
  }

  // ---- tabs ------------------------------------------------------------------------------------

  function selectTab(name) {
    for (const tab of ['connection', 'operation']) {
      const selected = tab === name;
      const button = byId('tab-' + tab);
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      byId('panel-' + tab).hidden = !selected;
    }
    if (name === 'operation') {
      byId('op-connection-note').textContent =
        'Browse and "try it" use the connection of the Connection tab: ' + (byId('conn-id').value || '(no id)') + '.';
    }
  }

  function setUpTabs() {
    const tabs = [byId('tab-connection'), byId('tab-operation')];
    tabs.forEach((tab, n) => {
      tab.addEventListener('click', () => selectTab(n === 0 ? 'connection' : 'operation'));
      tab.addEventListener('keydown', (event) => {
        if (event.key === 'ArrowRight' || event.key === 'ArrowLeft' || event.key === 'Home' || event.key === 'End') {
          event.preventDefault();
          const next = event.key === 'Home' ? 0 : event.key === 'End' ? tabs.length - 1 : (n + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length;
          selectTab(next === 0 ? 'connection' : 'operation');
          tabs[next].focus();
        }
      });
    });
  }

  // ---- start -----------------------------------------------------------------------------------

  async function start() {
    setUpTabs();
    const answer = await api('GET', '/api/descriptor');
    if (answer.status !== 200) {
      setStatus('startup-status', 'failed', 'The connector\'s descriptor could not be read: ' + describeFailure(answer.body));
      return;
    }
    const descriptor = answer.body.descriptor;
    studio.descriptor = descriptor;
    studio.componentsDir = answer.body.components;
    document.title = descriptor.name + ' — connector studio';
    byId('connector-name').textContent = descriptor.name;
    byId('connector-description').textContent = descriptor.description || '';
    byId('components-dir').textContent = studio.componentsDir;

    studio.forms.connection = new SchemaForm('conn', 'connection', byId('conn-fields'));
    studio.forms.operation = new SchemaForm('op', 'operation', byId('op-fields'));
    const typeSelect = byId('op-type');
    for (const op of descriptor.operations || []) {
      const option = el('option', { value: op.type, text: op.label ? op.label + ' (' + op.type + ')' : op.type });
      if (op.listener) option.dataset.listener = 'true';
      typeSelect.append(option);
    }
    typeSelect.addEventListener('change', () => selectOperation(typeSelect.value, null));
    byId('op-id').addEventListener('input', () => { byId('op-id').dataset.auto = 'false'; });

    newConnection();
    if ((descriptor.operations || []).length) selectOperation(descriptor.operations[0].type, null);
    else byId('tab-operation').hidden = true;

    byId('connection-form').addEventListener('submit', testConnection);
    byId('operation-form').addEventListener('submit', (event) => event.preventDefault());
    byId('conn-save').addEventListener('click', () =>
      save(studio.forms.connection, 'conn-status', connectionDraft(), byId('conn-store-secrets').checked, false)
    );
    byId('op-save').addEventListener('click', () =>
      save(studio.forms.operation, 'op-status', operationDraft(), byId('op-store-secrets').checked, false)
    );
    byId('op-run').addEventListener('click', runOnce);
    byId('op-documents-upload').addEventListener('change', () => {
      const chooser = byId('op-documents-upload');
      const file = chooser.files && chooser.files[0];
      if (!file) return;
      const reader = new FileReader();
      reader.addEventListener('load', () => {
        byId('op-documents').value = String(reader.result);
        chooser.value = '';
      });
      reader.readAsText(file);
    });
    byId('file-open').addEventListener('click', openFile);
    byId('file-refresh').addEventListener('click', refreshFiles);
    byId('new-connection').addEventListener('click', newConnection);
    byId('new-operation').addEventListener('click', newOperation);
    await refreshFiles();
    setStatus('startup-status', '', '');
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', start);
})();
