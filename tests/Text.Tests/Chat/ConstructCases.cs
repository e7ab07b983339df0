namespace MoeServe.Text.Tests.Chat;

/// <summary>Small templates, one per construct of the supported subset, compared with @huggingface/jinja like the
/// published templates. Only constructs where transformers.js and Python Jinja agree are here (see
/// JinjaTemplateTests for the Python-only behaviours).</summary>
internal static class ConstructCases
{
    private const string Context = """
        {"messages": [{"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "Hi there"},
                      {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": [true, null, "ü"]}}}]},
                      {"role": "user", "content": "Bye"}],
         "tools": [{"name": "f", "description": "A \"quoted\" tool\nwith lines"}],
         "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "n": 7, "word": "Hello World"}
        """;

    private static readonly (string Name, string Template)[] Templates =
    [
        ("whitespace-trim-lstrip", "{% for m in messages %}\n    {% if m.role == 'user' %}\n        [{{ m.content }}]\n    {% endif %}\n{% endfor %}\nend\n"),
        ("whitespace-dash", "a   {%- if true -%}   b   {%- endif -%}   c {{- ' d ' -}} e {# note #} f {#- strip -#} g"),
        ("comment-and-newlines", "{# header\nlines #}\nx\n{#- c -#}\ny"),
        ("loop-variables", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.length }}/{{ loop.revindex }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %};{% endfor %}"),
        ("for-else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}"),
        ("for-if-filter", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }} {% endfor %}"),
        ("for-items-unpack", "{% for k, v in {'a': 1, 'b': 'two'}.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in tools[0] | items %}{{ k }};{% endfor %}"),
        ("break-continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
        ("set-and-scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}"),
        ("namespace", "{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% set ns.count = ns.count + 1 %}{% endif %}{% endfor %}{{ ns.count }}{% if ns.found %}yes{% endif %}"),
        ("set-block", "{% set greeting %}Hello {{ messages[1].content }}!{% endset %}[{{ greeting }}]"),
        ("macro", "{% macro tag(name, body='none') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 'x') }}{{ tag(name='c', body=n) }}"),
        ("filters-text", "{{ messages[0].content | trim }}|{{ word | lower }}|{{ word | upper }}|{{ 'hello world' | title }}|{{ word | replace('o', '0') }}|{{ word | length }}|{{ n | string }}"),
        ("filters-lists", "{{ messages | length }}|{{ (messages | first).role }}|{{ (messages | last).content }}|{{ messages | map(attribute='role') | join(', ') }}|{{ [3, 1, 2] | reverse | join }}"),
        ("filters-selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}|{{ messages | rejectattr('role', 'equalto', 'user') | list | length }}|{{ messages | selectattr('tool_calls') | list | length }}|{{ 'T' if messages | selectattr('role', 'eq', 'system') | list | length > 0 else 'F' }}"),
        ("filter-default", "{{ missing | default('dflt') }}|{{ '' | default('empty', true) }}|{{ word | default('x') }}"),
        ("tojson", "{{ tools | tojson }}|{{ messages[2].tool_calls[0].function.arguments | tojson }}|{{ 'ünïcode \"q\"' | tojson }}|{{ {} | tojson }}|{{ [] | tojson }}"),
        ("tojson-indent", "{{ tools[0] | tojson(indent=2) }}\n{{ messages[2].tool_calls | tojson(indent=4) }}"),
        ("tests", "{{ 'T' if (missing is defined) else 'F' }}{{ 'T' if (missing is undefined) else 'F' }}{{ 'T' if (word is string) else 'F' }}{{ 'T' if (n is number) else 'F' }}{{ 'T' if (tools is iterable) else 'F' }}{{ 'T' if (tools[0] is mapping) else 'F' }}{{ 'T' if (messages is sequence) else 'F' }}{{ 'T' if (none is none) else 'F' }}{{ 'T' if (n is not string) else 'F' }}{{ 'T' if (true is true) else 'F' }}{{ 'T' if (false is false) else 'F' }}"),
        ("tests-in-conditions", "{% if messages[2].tool_calls is defined and messages[2].tool_calls %}T{% endif %}{% if messages[1].tool_calls is not defined %}U{% endif %}{% if messages[0].content is string %}S{% endif %}"),
        ("string-methods", "{{ 'T' if word.startswith('Hell') else 'F' }}{{ 'T' if word.endswith('x') else 'F' }}|{{ word.split(' ')[1] }}|{{ 'a,b,,c'.split(',') | length }}|{{ '  x  '.strip() }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'hi\\n\\n'.rstrip('\\n') }}|{{ word.lower() }}{{ word.upper() }}|{{ 'a b c'.split() | join('-') }}|{{ word.replace('l', 'L') }}|{{ 'the cat'.title() }}"),
        ("slicing", "{{ messages[::-1] | map(attribute='role') | join(',') }}|{{ messages[:2] | length }}|{{ messages[1:] | length }}|{{ word[:5] }}|{{ word[-5:] }}|{{ word[::2] }}|{{ messages[-1].content }}|{{ word[1:-1] }}"),
        ("in-operators", "{{ 'T' if ('World' in word) else 'F' }}{{ 'T' if ('xyz' not in word) else 'F' }}{{ 'T' if ('role' in messages[0]) else 'F' }}{{ 'T' if ('user' in ['user', 'assistant']) else 'F' }}{{ 'T' if (3 in [1, 2]) else 'F' }}"),
        ("concat-and-arithmetic", "{{ 'a' ~ n ~ 'b' }}|{{ n + 3 }}|{{ n - 10 }}|{{ n * 2 }}|{{ n // 2 }}|{{ n % 3 }}|{{ (n + 1) * 2 }}|{{ 2 ** 5 }}|{{ messages | length - 1 }}"),
        ("comparisons-logic", "{{ 'T' if (n > 5) else 'F' }}{{ 'T' if (n >= 7) else 'F' }}{{ 'T' if (n < 7) else 'F' }}{{ 'T' if (n <= 6) else 'F' }}{{ 'T' if (n == 7) else 'F' }}{{ 'T' if (n != 7) else 'F' }}|{{ 'T' if (n > 5 and n < 10) else 'F' }}{{ 'T' if (n < 5 or false) else 'F' }}{{ 'T' if (not n) else 'F' }}{{ 'T' if (not (n > 5)) else 'F' }}|{{ 'T' if ((n > 5) != (n > 6)) else 'F' }}"),
        ("inline-if", "{{ 'big' if n > 5 else 'small' }}|{{ 'x' if false else 'y' if true else 'z' }}|[{{ 'shown' if false }}]"),
        ("literals", "{% set d = {'k': [1, 2, {'z': 'w'}], 'e': {}} %}{{ d.k[2].z }}{{ d['k'][0] }}{{ d.e | length }}{% set t = (1, 2) %}{{ t[1] }}{{ ([1, 2] + [3]) | length }}"),
        ("attribute-vs-item", "{{ messages[1]['content'] }}{{ messages[1].content }}{{ 'T' if messages[0].missing is defined else 'F' }}{{ messages[1].get('content') }}{{ messages[1].get('nope', 'fallback') }}{{ messages[1].keys() | length }}"),
        ("undefined-rendering", "[{{ missing }}][{{ messages[0].nothing }}]{{ missing ~ 'x' }}"),
        ("elif-chain", "{% for m in messages %}{% if m.role == 'system' %}S{% elif m.role == 'user' %}U{% elif m.role == 'assistant' %}A{% else %}?{% endif %}{% endfor %}"),
        ("string-escapes", "{{ 'tab\\there' }}|{{ \"dq 'sq'\" }}|{{ 'sq \\'esc\\'' }}|{{ 'uni \\u00e9' }}|{{ 'a' 'b' }}"),
        ("generation-block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}"),
        ("bos-eos", "{{ bos_token }}{% for m in messages %}{{ m.content + eos_token }}{% endfor %}"),
        ("indent-filter", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(4, true) }}"),
        ("int-float", "{{ '42' | int + 1 }}|{{ 3.7 | int }}|{{ '2.5' | float }}|{{ 7 / 2 }}|{{ 1.5 + 1 }}"),
    ];

    public static IReadOnlyList<(string Id, string Template, string ContextJson)> All { get; } =
        Templates.Select(t => ($"construct/{t.Name}", t.Template, Context)).ToList();
}
