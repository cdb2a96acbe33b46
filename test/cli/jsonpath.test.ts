/**
 * kubectl's JSONPath (cli/jsonpath.ts) on the example of the Kubernetes JSONPath support page
 * (kubernetes.io/docs/reference/kubectl/jsonpath/): its input and, for each template of its table, the result
 * kubectl prints (maps print as JSON here where kubectl's Go prints map[...]).
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/errors.js';
import { executeTemplate, select } from '../../cli/jsonpath.js';

const DOC = {
  kind: 'List',
  items: [
    {
      kind: 'None',
      metadata: { name: '127.0.0.1', labels: { 'kubernetes.io/hostname': '127.0.0.1' } },
      status: { capacity: { cpu: '4' }, addresses: [{ type: 'LegacyHostIP', address: '127.0.0.1' }] },
    },
    {
      kind: 'None',
      metadata: { name: '127.0.0.2' },
      status: {
        capacity: { cpu: '8' },
        addresses: [
          { type: 'LegacyHostIP', address: '127.0.0.2' },
          { type: 'another', address: '127.0.0.3' },
        ],
      },
    },
  ],
  users: [
    { name: 'myself', user: {} },
    { name: 'e2e', user: { username: 'admin', password: 'secret' } },
  ],
};

describe('kubectl JSONPath: the cases of the kubectl reference page', () => {
  const cases: [string, string][] = [
    ['{.kind}', 'List'],
    ['{$.kind}', 'List'],
    ["{['kind']}", 'List'],
    ['{..name}', '127.0.0.1 127.0.0.2 myself e2e'],
    ['{.items[*].metadata.name}', '127.0.0.1 127.0.0.2'],
    ['{.users[0].name}', 'myself'],
    ['{.items[*].*.name}', '127.0.0.1 127.0.0.2'],
    ['{.items[-1:].metadata.name}', '127.0.0.2'],
    ['{.items[0:1].metadata.name}', '127.0.0.1'],
    ['{.users[?(@.name=="e2e")].user.password}', 'secret'],
    ["{.items[*]['metadata.name', 'status.capacity']}", '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}'],
    [
      '{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}',
      '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] ',
    ],
    ['{range .items[*]}{.metadata.name}{"\\t"}{end}', '127.0.0.1\t127.0.0.2\t'],
    ['{.items[0].metadata.labels.kubernetes\\.io/hostname}', '127.0.0.1'],
    ['{.items[*].status.addresses[?(@.type=="LegacyHostIP")].address}', '127.0.0.1 127.0.0.2'],
    ['{.users[?(@.user.password)].name}', 'e2e'],
    ['{.items[*].nosuchfield}', ''],
    ['name: {.items[1].metadata.name}', 'name: 127.0.0.2'],
  ];
  for (const [template, want] of cases)
    it(template, () => {
      expect(executeTemplate(template, DOC)).toBe(want);
    });

  it('a template without braces is one expression (the relaxed form of custom-columns and --sort-by)', () => {
    expect(executeTemplate('.items[*].metadata.name', DOC)).toBe('127.0.0.1 127.0.0.2');
    expect(select(DOC, '.items[1].status.capacity.cpu')).toEqual(['8']);
    expect(select(DOC, '{.users[*].name}')).toEqual(['myself', 'e2e']);
  });

  it('malformed templates are one-line usage errors', () => {
    for (const t of ['{.items[', '{range .items[*]}{.x}', '{end}', '{.a[?(@.x==)]}', '{.items[x y]}'])
      expect(() => executeTemplate(t, DOC), t).toThrow(UsageError);
  });
});
