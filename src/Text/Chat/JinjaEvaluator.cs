using System.Text;

namespace MoeServe.Text.Chat;

/// <summary>Renders a parsed template: statements write to a StringBuilder, expressions evaluate to the values
/// <see cref="JinjaValues"/> describes. Semantics follow Python Jinja 2/3 as transformers configures it.</summary>
internal sealed class JinjaEvaluator
{
    /// <summary>range() longer than this is an error rather than a huge list.</summary>
    private const int MaxRange = 1_000_000;

    private static readonly IReadOnlyDictionary<string, object?> NoKeywords = new Dictionary<string, object?>();

    private readonly string _source;

    public JinjaEvaluator(string source) => _source = source;

    private sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

        public object? Lookup(string name)
        {
            for (var scope = this; scope is not null; scope = scope.Parent)
            {
                if (scope._vars.TryGetValue(name, out var value))
                {
                    return value;
                }
            }

            return new Undefined(name);
        }

        public Scope? Parent { get; } = parent;

        public void Set(string name, object? value) => _vars[name] = value;
    }

    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private JinjaException Error(string message, int offset, Exception? inner = null)
    {
        var (line, column) = JinjaLexer.Position(_source, offset);
        return new JinjaException(message, line, column, inner);
    }

    public string Render(IReadOnlyList<Node> program, IReadOnlyDictionary<string, object?> context)
    {
        var globals = new Scope(null);
        globals.Set("raise_exception", (JinjaCallable)RaiseException);
        globals.Set("namespace", (JinjaCallable)NewNamespace);
        globals.Set("range", (JinjaCallable)Range);
        globals.Set("dict", (JinjaCallable)((_, kwargs) => new OrderedDictionary<string, object?>(kwargs, StringComparer.Ordinal)));
        var scope = new Scope(globals);
        foreach (var (name, value) in context)
        {
            scope.Set(name, value);
        }

        var output = new StringBuilder();
        RenderBlock(program, scope, output);
        return output.ToString();
    }

    // ---- statements ----

    private Flow RenderBlock(IReadOnlyList<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = RenderNode(node, scope, output);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow RenderNode(Node node, Scope scope, StringBuilder output)
    {
        switch (node)
        {
            case TextNode text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputNode o:
                output.Append(JinjaValues.ToText(Eval(o.Value, scope)));
                return Flow.Normal;
            case IfNode ifNode:
                foreach (var (test, body) in ifNode.Branches)
                {
                    if (JinjaValues.IsTrue(Eval(test, scope)))
                    {
                        return RenderBlock(body, scope, output);
                    }
                }

                return RenderBlock(ifNode.Else, scope, output);
            case ForNode forNode:
                RenderFor(forNode, scope, output);
                return Flow.Normal;
            case SetNode set:
                ExecuteSet(set, scope);
                return Flow.Normal;
            case MacroNode macro:
                scope.Set(macro.Name, MakeMacro(macro, scope));
                return Flow.Normal;
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw Error($"cannot render {node.GetType().Name}", node.Offset);
        }
    }

    private void RenderFor(ForNode node, Scope scope, StringBuilder output)
    {
        var loopScope = new Scope(scope);
        var iterable = Eval(node.Iterable, scope);
        var candidates = Iterate(iterable, node.Iterable.Offset);
        var items = new List<object?>();
        foreach (var item in candidates)
        {
            if (node.Condition is not null)
            {
                Bind(node, item, loopScope);
                if (!JinjaValues.IsTrue(Eval(node.Condition, loopScope)))
                {
                    continue;
                }
            }

            items.Add(item);
        }

        for (int i = 0; i < items.Count; i++)
        {
            var loop = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index"] = (long)(i + 1),
                ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : new Undefined("loop.previtem"),
                ["nextitem"] = i < items.Count - 1 ? items[i + 1] : new Undefined("loop.nextitem"),
            };
            loopScope.Set("loop", loop);
            Bind(node, items[i], loopScope);
            if (RenderBlock(node.Body, loopScope, output) == Flow.Break)
            {
                break;
            }
        }

        if (items.Count == 0)
        {
            RenderBlock(node.Else, loopScope, output);
        }
    }

    private void Bind(ForNode node, object? item, Scope scope) => Assign(node.Targets, item, scope, node.Offset, "loop variables");

    // One name takes the value; several unpack it (for a, b in ...; set a, b = ...). What names the targets in the
    // error differs: "loop variables" or "names".
    private void Assign(IReadOnlyList<string> targets, object? value, Scope scope, int offset, string targetsName)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }

        var values = Iterate(value, offset);
        if (values.Count != targets.Count)
        {
            throw Error($"cannot unpack {values.Count} values into {targets.Count} {targetsName}", offset);
        }

        for (int i = 0; i < values.Count; i++)
        {
            scope.Set(targets[i], values[i]);
        }
    }

    private void ExecuteSet(SetNode node, Scope scope)
    {
        object? value;
        if (node.Value is not null)
        {
            value = Eval(node.Value, scope);
        }
        else
        {
            var sb = new StringBuilder();
            RenderBlock(node.Body!, scope, sb);
            value = sb.ToString();
        }

        if (node.Attribute is not null)
        {
            if (scope.Lookup(node.Targets[0]) is not JinjaNamespace ns)
            {
                throw Error($"cannot assign attribute '{node.Attribute}' on '{node.Targets[0]}': not a namespace", node.Offset);
            }

            ns.Attributes[node.Attribute] = value;
            return;
        }

        Assign(node.Targets, value, scope, node.Offset, "names");
    }

    private JinjaCallable MakeMacro(MacroNode macro, Scope defining) => (args, kwargs) =>
    {
        var scope = new Scope(defining);
        if (args.Count > macro.Parameters.Count)
        {
            throw Error($"macro '{macro.Name}' takes not more than {macro.Parameters.Count} argument(s)", macro.Offset);
        }

        for (int i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, defaultValue) = macro.Parameters[i];
            object? value = i < args.Count ? args[i]
                : kwargs.TryGetValue(name, out var kw) ? kw
                : defaultValue is not null ? Eval(defaultValue, scope)
                : new Undefined(name);
            scope.Set(name, value);
        }

        var sb = new StringBuilder();
        RenderBlock(macro.Body, scope, sb);
        return sb.ToString();
    };

    // ---- expressions ----

    private object? Eval(Expr expr, Scope scope)
    {
        try
        {
            return EvalCore(expr, scope);
        }
        catch (InvalidOperationException e)
        {
            throw Error(e.Message, expr.Offset, e);
        }
    }

    private object? EvalCore(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr literal:
                return literal.Value;
            case NameExpr name:
                return scope.Lookup(name.Name);
            case ListExpr list:
                return list.Items.Select(item => Eval(item, scope)).ToList();
            case DictExpr dict:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                {
                    if (Eval(key, scope) is not string k)
                    {
                        throw Error("dict literal keys must be strings", key.Offset);
                    }

                    result[k] = Eval(value, scope);
                }

                return result;
            case AttributeExpr attribute:
                return GetAttribute(Eval(attribute.Target, scope), attribute.Name, attribute.Offset);
            case ItemExpr item:
                return GetItem(Eval(item.Target, scope), Eval(item.Key, scope), item.Offset);
            case SliceExpr slice:
                return Slice(Eval(slice.Target, scope), OptionalInt(slice.Start, scope), OptionalInt(slice.Stop, scope), OptionalInt(slice.Step, scope), slice.Offset);
            case CallExpr call:
                var callee = Eval(call.Callee, scope);
                if (callee is not JinjaCallable function)
                {
                    throw Error($"'{Describe(call.Callee)}' is not callable ({JinjaValues.TypeName(callee)})", call.Offset);
                }

                var (args, kwargs) = EvalArguments(call.Args, scope);
                return function(args, kwargs);
            case FilterExpr filter:
                var (fargs, fkwargs) = EvalArguments(filter.Args, scope);
                return JinjaFilters.Apply(this, filter.Name, Eval(filter.Value, scope), fargs, fkwargs);
            case TestExpr test:
                var (targs, _) = EvalArguments(test.Args, scope);
                bool passed = JinjaFilters.Test(test.Name, Eval(test.Value, scope), targs);
                return test.Negated ? !passed : passed;
            case UnaryExpr unary:
                var operand = Eval(unary.Operand, scope);
                return unary.Operator switch
                {
                    "not" => !JinjaValues.IsTrue(operand),
                    "-" => operand switch
                    {
                        long l => (object)(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        _ => throw Error($"bad operand type for unary -: '{JinjaValues.TypeName(operand)}'", unary.Offset),
                    },
                    _ => JinjaValues.IsNumber(operand) ? operand : throw Error($"bad operand type for unary +: '{JinjaValues.TypeName(operand)}'", unary.Offset),
                };
            case BinaryExpr binary:
                return EvalBinary(binary, scope);
            case ConditionalExpr conditional:
                if (JinjaValues.IsTrue(Eval(conditional.Test, scope)))
                {
                    return Eval(conditional.Then, scope);
                }

                return conditional.Else is null ? new Undefined("conditional expression") : Eval(conditional.Else, scope);
            default:
                throw Error($"cannot evaluate {expr.GetType().Name}", expr.Offset);
        }
    }

    private static string Describe(Expr expr) => expr switch
    {
        NameExpr n => n.Name,
        AttributeExpr a => Describe(a.Target) + "." + a.Name,
        _ => "expression",
    };

    private long? OptionalInt(Expr? expr, Scope scope)
    {
        if (expr is null)
        {
            return null;
        }

        return Eval(expr, scope) switch
        {
            null or Undefined => null,
            long l => l,
            bool b => b ? 1 : 0,
            var other => throw Error($"slice indices must be integers or None, not {JinjaValues.TypeName(other)}", expr.Offset),
        };
    }

    private (List<object?> Args, IReadOnlyDictionary<string, object?> Kwargs) EvalArguments(Arguments arguments, Scope scope)
    {
        var args = arguments.Positional.Select(a => Eval(a, scope)).ToList();
        if (arguments.Keywords.Count == 0)
        {
            return (args, NoKeywords);
        }

        var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Keywords)
        {
            kwargs[name] = Eval(value, scope);
        }

        return (args, kwargs);
    }

    private object? EvalBinary(BinaryExpr node, Scope scope)
    {
        var left = Eval(node.Left, scope);
        switch (node.Operator)
        {
            case "and":
                return JinjaValues.IsTrue(left) ? Eval(node.Right, scope) : left;
            case "or":
                return JinjaValues.IsTrue(left) ? left : Eval(node.Right, scope);
        }

        var right = Eval(node.Right, scope);
        try
        {
            return node.Operator switch
            {
                "==" => JinjaValues.AreEqual(left, right),
                "!=" => !JinjaValues.AreEqual(left, right),
                "in" => Contains(right, left),
                "not in" => !Contains(right, left),
                "~" => JinjaValues.ToText(left) + JinjaValues.ToText(right),
                "<" or "<=" or ">" or ">=" => Compare(node.Operator, left, right),
                _ => Arithmetic(node.Operator, left, right),
            };
        }
        catch (InvalidOperationException e)
        {
            throw Error(e.Message, node.Offset, e);
        }
    }

    private static bool Compare(string op, object? left, object? right)
    {
        int c;
        if (JinjaValues.IsNumber(left) && JinjaValues.IsNumber(right))
        {
            c = JinjaValues.ToDouble(left).CompareTo(JinjaValues.ToDouble(right));
        }
        else if (left is string a && right is string b)
        {
            c = string.CompareOrdinal(a, b);
        }
        else
        {
            throw new InvalidOperationException($"'{op}' not supported between instances of '{JinjaValues.TypeName(left)}' and '{JinjaValues.TypeName(right)}'");
        }

        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
    }

    private static object? Arithmetic(string op, object? left, object? right)
    {
        if (left is Undefined || right is Undefined)
        {
            throw new InvalidOperationException($"'{(left as Undefined ?? (Undefined)right!).Name}' is undefined");
        }

        if (op == "+")
        {
            switch (left, right)
            {
                case (string a, string b): return a + b;
                case (List<object?> a, List<object?> b): return a.Concat(b).ToList();
            }
        }

        if (op == "*" && (left, right) is (string, long) or (long, string))
        {
            string text = left as string ?? (string)right!;
            long count = left is long ln ? ln : (long)right!;
            return count <= 0 ? "" : string.Concat(Enumerable.Repeat(text, (int)count));
        }

        if (!JinjaValues.IsNumber(left) || !JinjaValues.IsNumber(right))
        {
            throw new InvalidOperationException($"unsupported operand type(s) for {op}: '{JinjaValues.TypeName(left)}' and '{JinjaValues.TypeName(right)}'");
        }

        if (left is not double && right is not double)
        {
            long a = (long)JinjaValues.ToDouble(left), b = (long)JinjaValues.ToDouble(right);
            switch (op)
            {
                case "+": return a + b;
                case "-": return a - b;
                case "*": return a * b;
                case "**" when b >= 0: return (long)Math.Pow(a, b);
                case "//" or "%" when b == 0: throw new InvalidOperationException("integer division or modulo by zero");
                case "//": return (long)Math.Floor((double)a / b);
                case "%": return ((a % b) + b) % b;
            }
        }

        double x = JinjaValues.ToDouble(left), y = JinjaValues.ToDouble(right);
        if (op is "/" or "//" or "%" && y == 0)
        {
            throw new InvalidOperationException("division by zero");
        }

        return op switch
        {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            "/" => x / y,
            "//" => Math.Floor(x / y),
            "%" => x - (y * Math.Floor(x / y)),
            _ => Math.Pow(x, y),
        };
    }

    private static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        string => throw new InvalidOperationException($"'in <string>' requires string as left operand, not {JinjaValues.TypeName(item)}"),
        List<object?> list => list.Any(x => JinjaValues.AreEqual(x, item)),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        JinjaNamespace ns => item is string key && ns.Attributes.ContainsKey(key),
        Undefined => false,
        _ => throw new InvalidOperationException($"argument of type '{JinjaValues.TypeName(container)}' is not iterable"),
    };

    /// <summary>The items a for loop visits: a list's items, a string's characters, a dict's keys; nothing for undefined.</summary>
    internal List<object?> Iterate(object? value, int offset) => value switch
    {
        List<object?> list => list,
        string s => s.Select(c => (object?)c.ToString()).ToList(),
        OrderedDictionary<string, object?> dict => dict.Keys.Select(k => (object?)k).ToList(),
        Undefined => [],
        _ => throw Error($"'{JinjaValues.TypeName(value)}' object is not iterable", offset),
    };

    /// <summary>obj.name: a method or attribute first, then an item; undefined when neither exists.</summary>
    internal object? GetAttribute(object? target, string name, int offset)
    {
        switch (target)
        {
            case Undefined u:
                throw Error($"'{u.Name}' is undefined (reading its attribute '{name}')", offset);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attr) ? attr : new Undefined(name);
            case OrderedDictionary<string, object?> dict:
                return (object?)JinjaMethods.Bind(dict, name) ?? (dict.TryGetValue(name, out var value) ? value : new Undefined(name));
            case string s:
                return (object?)JinjaMethods.Bind(s, name) ?? new Undefined(name);
            default:
                return new Undefined(name);
        }
    }

    /// <summary>obj[key]: an item first, then an attribute (so d['items'] is the key, d.items the method).</summary>
    internal object? GetItem(object? target, object? key, int offset)
    {
        switch (target)
        {
            case Undefined u:
                throw Error($"'{u.Name}' is undefined (reading its item {JinjaValues.Repr(key)})", offset);
            case List<object?> list when key is long or bool:
                long i = (long)JinjaValues.ToDouble(key);
                if (i < 0)
                {
                    i += list.Count;
                }

                return i >= 0 && i < list.Count ? list[(int)i] : new Undefined($"[{key}]");
            case string s when key is long l:
                if (l < 0)
                {
                    l += s.Length;
                }

                return l >= 0 && l < s.Length ? s[(int)l].ToString() : new Undefined($"[{key}]");
            case OrderedDictionary<string, object?> dict when key is string k:
                return dict.TryGetValue(k, out var value) ? value : GetAttribute(target, k, offset);
            case JinjaNamespace when key is string k:
                return GetAttribute(target, k, offset);
            case string or OrderedDictionary<string, object?> when key is string k:
                return GetAttribute(target, k, offset);
            default:
                return new Undefined($"[{JinjaValues.Repr(key)}]");
        }
    }

    private object? Slice(object? target, long? start, long? stop, long? step, int offset)
    {
        long stepValue = step ?? 1;
        if (stepValue == 0)
        {
            throw Error("slice step cannot be zero", offset);
        }

        IReadOnlyList<object?> items = target switch
        {
            List<object?> list => list,
            string s => s.Select(c => (object?)c.ToString()).ToList(),
            _ => throw Error($"'{JinjaValues.TypeName(target)}' object is not subscriptable", offset),
        };
        int n = items.Count;
        long Clamp(long? v, long low, long high, long fallback)
        {
            if (v is null)
            {
                return fallback;
            }

            long x = v.Value < 0 ? v.Value + n : v.Value;
            return Math.Clamp(x, low, high);
        }

        var result = new List<object?>();
        if (stepValue > 0)
        {
            for (long i = Clamp(start, 0, n, 0), end = Clamp(stop, 0, n, n); i < end; i += stepValue)
            {
                result.Add(items[(int)i]);
            }
        }
        else
        {
            for (long i = Clamp(start, -1, n - 1, n - 1), end = Clamp(stop, -1, n - 1, -1); i > end; i += stepValue)
            {
                result.Add(items[(int)i]);
            }
        }

        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    // ---- globals ----

    private static object? RaiseException(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) =>
        throw new JinjaRaisedException(args.Count > 0 ? JinjaValues.ToText(args[0]) : "raise_exception() called");

    private static object? NewNamespace(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var ns = new JinjaNamespace();
        if (args.Count > 0 && args[0] is OrderedDictionary<string, object?> initial)
        {
            foreach (var (key, value) in initial)
            {
                ns.Attributes[key] = value;
            }
        }

        foreach (var (key, value) in kwargs)
        {
            ns.Attributes[key] = value;
        }

        return ns;
    }

    private static object? Range(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var numbers = args.Select(a => a is long l ? l : throw new InvalidOperationException("range() arguments must be integers")).ToList();
        var (start, stop, step) = numbers.Count switch
        {
            1 => (0L, numbers[0], 1L),
            2 => (numbers[0], numbers[1], 1L),
            3 => (numbers[0], numbers[1], numbers[2]),
            _ => throw new InvalidOperationException("range() takes 1 to 3 arguments"),
        };
        if (step == 0)
        {
            throw new InvalidOperationException("range() step must not be zero");
        }

        var result = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (result.Count == MaxRange)
            {
                throw new InvalidOperationException($"range() of more than {MaxRange} items");
            }

            result.Add(i);
        }

        return result;
    }
}
