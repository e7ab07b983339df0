namespace MoeServe.Text.Chat;

// The template's syntax tree. Every node keeps the source offset of its first token, for error positions.

internal abstract record Node(int Offset);

// Statements
internal sealed record TextNode(int Offset, string Text) : Node(Offset);

internal sealed record OutputNode(int Offset, Expr Value) : Node(Offset);

internal sealed record IfNode(int Offset, IReadOnlyList<(Expr Test, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node> Else) : Node(Offset);

internal sealed record ForNode(int Offset, IReadOnlyList<string> Targets, Expr Iterable, Expr? Condition, IReadOnlyList<Node> Body, IReadOnlyList<Node> Else) : Node(Offset);

/// <summary>{% set x = v %}, {% set a, b = v %}, {% set ns.attr = v %} or the block form {% set x %}...{% endset %}.</summary>
internal sealed record SetNode(int Offset, IReadOnlyList<string> Targets, string? Attribute, Expr? Value, IReadOnlyList<Node>? Body) : Node(Offset);

internal sealed record MacroNode(int Offset, string Name, IReadOnlyList<(string Name, Expr? Default)> Parameters, IReadOnlyList<Node> Body) : Node(Offset);

internal sealed record BreakNode(int Offset) : Node(Offset);

internal sealed record ContinueNode(int Offset) : Node(Offset);

// Expressions
internal abstract record Expr(int Offset) : Node(Offset);

internal sealed record LiteralExpr(int Offset, object? Value) : Expr(Offset);

internal sealed record NameExpr(int Offset, string Name) : Expr(Offset);

internal sealed record ListExpr(int Offset, IReadOnlyList<Expr> Items) : Expr(Offset);

internal sealed record DictExpr(int Offset, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Offset);

/// <summary>obj.name: Jinja's getattr (an attribute such as a method first, then an item).</summary>
internal sealed record AttributeExpr(int Offset, Expr Target, string Name) : Expr(Offset);

/// <summary>obj[key]: Jinja's getitem (an item first, then an attribute).</summary>
internal sealed record ItemExpr(int Offset, Expr Target, Expr Key) : Expr(Offset);

internal sealed record SliceExpr(int Offset, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Offset);

internal sealed record Arguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keywords)
{
    public static readonly Arguments None = new([], []);
}

internal sealed record CallExpr(int Offset, Expr Callee, Arguments Args) : Expr(Offset);

internal sealed record FilterExpr(int Offset, Expr Value, string Name, Arguments Args) : Expr(Offset);

internal sealed record TestExpr(int Offset, Expr Value, string Name, Arguments Args, bool Negated) : Expr(Offset);

/// <summary>Unary operators: not, -, +.</summary>
internal sealed record UnaryExpr(int Offset, string Operator, Expr Operand) : Expr(Offset);

/// <summary>Binary operators, including and/or (short-circuit), in/not in and ~.</summary>
internal sealed record BinaryExpr(int Offset, string Operator, Expr Left, Expr Right) : Expr(Offset);

/// <summary>a if test else b; without else the result is undefined when the test fails.</summary>
internal sealed record ConditionalExpr(int Offset, Expr Test, Expr Then, Expr? Else) : Expr(Offset);
