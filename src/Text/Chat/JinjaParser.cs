using System.Globalization;

namespace MoeServe.Text.Chat;

/// <summary>Recursive-descent parser from tokens to the syntax tree, with Jinja's operator precedence. Anything
/// outside the supported subset (statements, filters, tests, methods, functions) is a
/// <see cref="JinjaUnsupportedException"/> naming the construct and its position.</summary>
internal sealed class JinjaParser
{
    internal static readonly HashSet<string> Filters =
    [
        "abs", "capitalize", "count", "d", "default", "first", "float", "indent", "int", "items", "join", "last",
        "length", "list", "lower", "map", "reject", "rejectattr", "replace", "reverse", "safe", "select", "selectattr",
        "string", "title", "tojson", "trim", "upper",
    ];

    internal static readonly HashSet<string> Tests =
    [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge", "gt", "in",
        "integer", "iterable", "le", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence",
        "string", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=",
    ];

    /// <summary>Methods a template may call on a value: str's and dict's.</summary>
    internal static readonly HashSet<string> Methods =
    [
        "startswith", "endswith", "split", "rstrip", "lstrip", "strip", "replace", "lower", "upper", "title",
        "capitalize", "join", "get", "items", "keys", "values",
    ];

    internal static readonly HashSet<string> Functions = ["raise_exception", "namespace", "range", "dict"];

    private static readonly HashSet<string> CompareOperators = ["==", "!=", "<", "<=", ">", ">="];

    private readonly string _source;
    private readonly List<Token> _tokens;
    private readonly HashSet<string> _macros = [];
    private readonly List<(string Name, int Offset)> _calledNames = [];
    private int _pos;

    private JinjaParser(string source)
    {
        _source = source;
        _tokens = JinjaLexer.Tokenize(source);
    }

    public static IReadOnlyList<Node> Parse(string source)
    {
        var parser = new JinjaParser(source);
        var body = parser.ParseBody([], out _);
        foreach (var (name, offset) in parser._calledNames)
        {
            if (!Functions.Contains(name) && !parser._macros.Contains(name))
            {
                throw parser.Unsupported($"function '{name}'", offset);
            }
        }

        return body;
    }

    private Token Current => _tokens[_pos];

    private Token Peek(int ahead = 1) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    private JinjaException Error(string message, int offset)
    {
        var (line, column) = JinjaLexer.Position(_source, offset);
        return new JinjaException(message, line, column);
    }

    private JinjaUnsupportedException Unsupported(string construct, int offset)
    {
        var (line, column) = JinjaLexer.Position(_source, offset);
        return new JinjaUnsupportedException(construct, line, column);
    }

    private Token Next() => _tokens[_pos++];

    private bool AtOperator(string op) => Current.Is(TokenKind.Operator, op);

    private bool AtName(string name) => Current.Is(TokenKind.Name, name);

    private Token Expect(TokenKind kind, string? value = null)
    {
        var token = Current;
        if (token.Kind != kind || (value is not null && token.Value != value))
        {
            string wanted = value is not null ? $"'{value}'" : kind.ToString();
            throw Error($"expected {wanted}, got {token}", token.Offset);
        }

        _pos++;
        return token;
    }

    private string ExpectName() => Expect(TokenKind.Name).Value;

    // ---- statements ----

    /// <summary>Parses nodes until a block tag whose keyword is one of <paramref name="ends"/> (consumed up to the
    /// keyword) or the end of the template (only when <paramref name="ends"/> is empty).</summary>
    private List<Node> ParseBody(string[] ends, out string end)
    {
        var nodes = new List<Node>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    if (ends.Length > 0)
                    {
                        throw Error($"unexpected end of template, expected {string.Join(" or ", ends.Select(e => $"'{e}'"))}", token.Offset);
                    }

                    end = "";
                    return nodes;
                case TokenKind.Text:
                    _pos++;
                    nodes.Add(new TextNode(token.Offset, token.Value));
                    break;
                case TokenKind.VariableStart:
                    _pos++;
                    var value = ParseExpression();
                    Expect(TokenKind.VariableEnd);
                    nodes.Add(new OutputNode(token.Offset, value));
                    break;
                case TokenKind.BlockStart:
                    var keyword = Peek();
                    if (keyword.Kind == TokenKind.Name && ends.Contains(keyword.Value))
                    {
                        _pos += 2;
                        end = keyword.Value;
                        return nodes;
                    }

                    _pos++;
                    var statement = ParseStatement();
                    if (statement is not null)
                    {
                        nodes.Add(statement);
                    }
                    else
                    {
                        nodes.AddRange(ParseTransparentBlock());
                    }

                    break;
                default:
                    throw Error($"unexpected {token}", token.Offset);
            }
        }
    }

    /// <summary>A statement after '{%'; null for transformers' {% generation %} marker, whose body renders as is.</summary>
    private Node? ParseStatement()
    {
        var keyword = Current;
        if (keyword.Kind != TokenKind.Name)
        {
            throw Error($"expected a statement keyword, got {keyword}", keyword.Offset);
        }

        _pos++;
        switch (keyword.Value)
        {
            case "if": return ParseIf(keyword.Offset);
            case "for": return ParseFor(keyword.Offset);
            case "set": return ParseSet(keyword.Offset);
            case "macro": return ParseMacro(keyword.Offset);
            case "break":
                Expect(TokenKind.BlockEnd);
                return new BreakNode(keyword.Offset);
            case "continue":
                Expect(TokenKind.BlockEnd);
                return new ContinueNode(keyword.Offset);
            case "generation":
                Expect(TokenKind.BlockEnd);
                return null;
            default:
                throw Unsupported($"statement '{keyword.Value}'", keyword.Offset);
        }
    }

    private List<Node> ParseTransparentBlock()
    {
        var body = ParseBody(["endgeneration"], out _);
        Expect(TokenKind.BlockEnd);
        return body;
    }

    private IfNode ParseIf(int offset)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        var test = ParseExpression();
        IReadOnlyList<Node> elseBody = [];
        while (true)
        {
            Expect(TokenKind.BlockEnd);
            var body = ParseBody(["elif", "else", "endif"], out string end);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseExpression();
                continue;
            }

            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseBody(["endif"], out _);
            }

            Expect(TokenKind.BlockEnd);
            return new IfNode(offset, branches, elseBody);
        }
    }

    private ForNode ParseFor(int offset)
    {
        var targets = new List<string> { ExpectName() };
        while (AtOperator(","))
        {
            _pos++;
            targets.Add(ExpectName());
        }

        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondition: false);
        Expr? condition = null;
        if (AtName("if"))
        {
            _pos++;
            condition = ParseExpression();
        }

        if (AtName("recursive"))
        {
            throw Unsupported("recursive for loop", Current.Offset);
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["else", "endfor"], out string end);
        IReadOnlyList<Node> elseBody = [];
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"], out _);
        }

        Expect(TokenKind.BlockEnd);
        return new ForNode(offset, targets, iterable, condition, body, elseBody);
    }

    private SetNode ParseSet(int offset)
    {
        var targets = new List<string> { ExpectName() };
        string? attribute = null;
        if (AtOperator("."))
        {
            _pos++;
            attribute = ExpectName();
        }
        else
        {
            while (AtOperator(","))
            {
                _pos++;
                targets.Add(ExpectName());
            }
        }

        if (AtOperator("="))
        {
            _pos++;
            var value = ParseTuple(withCondition: true);
            Expect(TokenKind.BlockEnd);
            return new SetNode(offset, targets, attribute, value, null);
        }

        if (AtOperator("|"))
        {
            throw Unsupported("filtered block set", Current.Offset);
        }

        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"], out _);
        Expect(TokenKind.BlockEnd);
        return new SetNode(offset, targets, attribute, null, body);
    }

    private MacroNode ParseMacro(int offset)
    {
        string name = ExpectName();
        _macros.Add(name);
        Expect(TokenKind.Operator, "(");
        var parameters = new List<(string, Expr?)>();
        while (!AtOperator(")"))
        {
            string parameter = ExpectName();
            Expr? defaultValue = null;
            if (AtOperator("="))
            {
                _pos++;
                defaultValue = ParseExpression();
            }

            parameters.Add((parameter, defaultValue));
            if (!AtOperator(","))
            {
                break;
            }

            _pos++;
        }

        Expect(TokenKind.Operator, ")");
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endmacro"], out _);
        if (Current.Kind == TokenKind.Name)
        {
            _pos++; // {% endmacro name %}
        }

        Expect(TokenKind.BlockEnd);
        return new MacroNode(offset, name, parameters, body);
    }

    // ---- expressions ----

    /// <summary>An expression, or a tuple of expressions separated by commas (a list at runtime).</summary>
    private Expr ParseTuple(bool withCondition)
    {
        int offset = Current.Offset;
        var first = withCondition ? ParseExpression() : ParseOr();
        if (!AtOperator(","))
        {
            return first;
        }

        var items = new List<Expr> { first };
        while (AtOperator(","))
        {
            _pos++;
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd || AtOperator(")"))
            {
                break;
            }

            items.Add(withCondition ? ParseExpression() : ParseOr());
        }

        return new ListExpr(offset, items);
    }

    private Expr ParseExpression()
    {
        var value = ParseOr();
        while (AtName("if"))
        {
            int offset = Next().Offset;
            var test = ParseOr();
            Expr? elseValue = null;
            if (AtName("else"))
            {
                _pos++;
                elseValue = ParseExpression();
            }

            value = new ConditionalExpr(offset, test, value, elseValue);
        }

        return value;
    }

    private Expr ParseOr() => ParseKeywordChain("or", ParseAnd);

    private Expr ParseAnd() => ParseKeywordChain("and", ParseNot);

    // A left-associative chain of operands joined by a keyword operator (a or b or c), each operand one level tighter.
    private Expr ParseKeywordChain(string keyword, Func<Expr> operand)
    {
        var left = operand();
        while (AtName(keyword))
        {
            int offset = Next().Offset;
            left = new BinaryExpr(offset, keyword, left, operand());
        }

        return left;
    }

    private Expr ParseNot()
    {
        if (AtName("not"))
        {
            int offset = Next().Offset;
            return new UnaryExpr(offset, "not", ParseNot());
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        while (true)
        {
            var token = Current;
            string op;
            if (token.Kind == TokenKind.Operator && CompareOperators.Contains(token.Value))
            {
                op = token.Value;
                _pos++;
            }
            else if (AtName("in"))
            {
                op = "in";
                _pos++;
            }
            else if (AtName("not") && Peek().Is(TokenKind.Name, "in"))
            {
                op = "not in";
                _pos += 2;
            }
            else
            {
                return left;
            }

            left = new BinaryExpr(token.Offset, op, left, ParseMath1());
        }
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (AtOperator("+") || AtOperator("-"))
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Value, left, ParseConcat());
        }

        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (AtOperator("~"))
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, "~", left, ParseMath2());
        }

        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (AtOperator("*") || AtOperator("/") || AtOperator("//") || AtOperator("%"))
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Value, left, ParsePow());
        }

        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (AtOperator("**"))
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, "**", left, ParseUnary(withFilter: true));
        }

        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr value;
        if (AtOperator("-") || AtOperator("+"))
        {
            var op = Next();
            value = new UnaryExpr(op.Offset, op.Value, ParseUnary(withFilter: false));
        }
        else
        {
            value = ParsePostfix(ParsePrimary());
        }

        return withFilter ? ParseFilters(value) : value;
    }

    private Expr ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(token.Offset, true),
                    "false" or "False" => new LiteralExpr(token.Offset, false),
                    "none" or "None" => new LiteralExpr(token.Offset, null),
                    _ => new NameExpr(token.Offset, token.Value),
                };
            case TokenKind.String:
                string text = token.Value;
                while (Current.Kind == TokenKind.String)
                {
                    text += Next().Value;
                }

                return new LiteralExpr(token.Offset, text);
            case TokenKind.Integer:
                return new LiteralExpr(token.Offset, long.Parse(token.Value, CultureInfo.InvariantCulture));
            case TokenKind.Float:
                return new LiteralExpr(token.Offset, double.Parse(token.Value, CultureInfo.InvariantCulture));
            case TokenKind.Operator when token.Value == "(":
                if (AtOperator(")"))
                {
                    _pos++;
                    return new ListExpr(token.Offset, []);
                }

                var inner = ParseTuple(withCondition: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                var items = new List<Expr>();
                while (!AtOperator("]"))
                {
                    items.Add(ParseExpression());
                    if (!AtOperator(","))
                    {
                        break;
                    }

                    _pos++;
                }

                Expect(TokenKind.Operator, "]");
                return new ListExpr(token.Offset, items);
            case TokenKind.Operator when token.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!AtOperator("}"))
                {
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                    if (!AtOperator(","))
                    {
                        break;
                    }

                    _pos++;
                }

                Expect(TokenKind.Operator, "}");
                return new DictExpr(token.Offset, pairs);
            default:
                throw Error($"unexpected {token}", token.Offset);
        }
    }

    private Expr ParsePostfix(Expr value)
    {
        while (true)
        {
            var token = Current;
            if (AtOperator("."))
            {
                _pos++;
                var name = Next();
                if (name.Kind == TokenKind.Integer)
                {
                    value = new ItemExpr(name.Offset, value, new LiteralExpr(name.Offset, long.Parse(name.Value, CultureInfo.InvariantCulture)));
                }
                else if (name.Kind == TokenKind.Name)
                {
                    value = new AttributeExpr(name.Offset, value, name.Value);
                }
                else
                {
                    throw Error($"expected an attribute name after '.', got {name}", name.Offset);
                }
            }
            else if (AtOperator("["))
            {
                _pos++;
                value = ParseSubscript(token.Offset, value);
            }
            else if (AtOperator("("))
            {
                value = ParseCall(value);
            }
            else
            {
                return value;
            }
        }
    }

    private Expr ParseSubscript(int offset, Expr target)
    {
        Expr? start = null, stop = null, step = null;
        bool isSlice = false;
        if (!AtOperator(":"))
        {
            start = ParseExpression();
        }

        if (AtOperator(":"))
        {
            isSlice = true;
            _pos++;
            if (!AtOperator(":") && !AtOperator("]"))
            {
                stop = ParseExpression();
            }

            if (AtOperator(":"))
            {
                _pos++;
                if (!AtOperator("]"))
                {
                    step = ParseExpression();
                }
            }
        }

        Expect(TokenKind.Operator, "]");
        return isSlice ? new SliceExpr(offset, target, start, stop, step) : new ItemExpr(offset, target, start!);
    }

    private CallExpr ParseCall(Expr callee)
    {
        int offset = Current.Offset;
        switch (callee)
        {
            case NameExpr name:
                _calledNames.Add((name.Name, name.Offset));
                break;
            case AttributeExpr attribute when !Methods.Contains(attribute.Name):
                throw Unsupported($"method '{attribute.Name}'", attribute.Offset);
        }

        return new CallExpr(offset, callee, ParseArguments());
    }

    private Arguments ParseArguments()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!AtOperator(")"))
        {
            if (AtOperator("*") || AtOperator("**"))
            {
                throw Unsupported("argument unpacking", Current.Offset);
            }

            if (Current.Kind == TokenKind.Name && Peek().Is(TokenKind.Operator, "="))
            {
                string name = Next().Value;
                _pos++;
                keywords.Add((name, ParseExpression()));
            }
            else
            {
                positional.Add(ParseExpression());
            }

            if (!AtOperator(","))
            {
                break;
            }

            _pos++;
        }

        Expect(TokenKind.Operator, ")");
        return new Arguments(positional, keywords);
    }

    private Expr ParseFilters(Expr value)
    {
        while (true)
        {
            if (AtOperator("|"))
            {
                _pos++;
                var name = Expect(TokenKind.Name);
                if (!Filters.Contains(name.Value))
                {
                    throw Unsupported($"filter '{name.Value}'", name.Offset);
                }

                var args = AtOperator("(") ? ParseArguments() : Arguments.None;
                value = new FilterExpr(name.Offset, value, name.Value, args);
            }
            else if (AtName("is"))
            {
                _pos++;
                bool negated = false;
                if (AtName("not"))
                {
                    negated = true;
                    _pos++;
                }

                var name = Current;
                if (name.Kind != TokenKind.Name && !(name.Kind == TokenKind.Operator && Tests.Contains(name.Value)))
                {
                    throw Error($"expected a test name after 'is', got {name}", name.Offset);
                }

                _pos++;
                if (!Tests.Contains(name.Value))
                {
                    throw Unsupported($"test '{name.Value}'", name.Offset);
                }

                Arguments args = Arguments.None;
                if (AtOperator("("))
                {
                    args = ParseArguments();
                }
                else if (StartsTestArgument())
                {
                    args = new Arguments([ParsePostfix(ParsePrimary())], []);
                }

                value = new TestExpr(name.Offset, value, name.Value, args, negated);
            }
            else if (AtOperator("(") && value is FilterExpr)
            {
                value = ParseCall(value);
            }
            else
            {
                return value;
            }
        }
    }

    /// <summary>Jinja's rule for a test's single argument without parentheses: `x is divisibleby 3`.</summary>
    private bool StartsTestArgument()
    {
        var token = Current;
        return token.Kind switch
        {
            TokenKind.Name => token.Value is not ("else" or "or" or "and" or "if" or "is" or "not" or "in"),
            TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
            TokenKind.Operator => token.Value is "[" or "{",
            _ => false,
        };
    }
}
