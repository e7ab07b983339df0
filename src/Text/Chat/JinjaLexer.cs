using System.Globalization;
using System.Text;

namespace MoeServe.Text.Chat;

internal enum TokenKind
{
    Text,
    BlockStart, // {%
    BlockEnd, // %}
    VariableStart, // {{
    VariableEnd, // }}
    Name,
    String,
    Integer,
    Float,
    Operator, // punctuation and operators: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
    End,
}

internal readonly record struct Token(TokenKind Kind, string Value, int Offset)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public override string ToString() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.Text => "text",
        _ => $"'{Value}'",
    };
}

/// <summary>Splits a template into text and tag tokens, applying the whitespace rules transformers configures:
/// trim_blocks and lstrip_blocks both on, '-' on a delimiter strips whitespace on that side, and a single trailing
/// newline of the template is dropped. Offsets index the original source, for error positions.</summary>
internal sealed class JinjaLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="];

    private readonly string _src;
    private readonly int _length;
    private readonly List<Token> _tokens = [];
    private int _pos;

    private JinjaLexer(string source)
    {
        _src = source;
        _length = source.EndsWith('\n') ? source.Length - 1 : source.Length;
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    /// <summary>1-based line and column of an offset.</summary>
    public static (int Line, int Column) Position(string source, int offset)
    {
        int line = 1, column = 1;
        for (int i = 0; i < offset && i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column++;
            }
        }

        return (line, column);
    }

    private JinjaException Error(string message, int offset)
    {
        var (line, column) = Position(_src, offset);
        return new JinjaException(message, line, column);
    }

    private void Run()
    {
        bool afterBlockTag = false; // the previous tag was {% %} or {# #}: trim_blocks drops one newline after it
        bool stripNext = false; // the previous tag ended with '-'
        while (_pos < _length)
        {
            int tag = FindTag(_pos);
            int textEnd = tag < 0 ? _length : tag;
            string text = _src[_pos..textEnd];
            int textStart = _pos;
            if (afterBlockTag && text.StartsWith('\n'))
            {
                text = text[1..];
                textStart++;
            }

            if (stripNext)
            {
                int trimmed = text.Length - text.TrimStart().Length;
                text = text[trimmed..];
                textStart += trimmed;
            }

            if (tag >= 0)
            {
                char kind = _src[tag + 1];
                char modifier = tag + 2 < _length ? _src[tag + 2] : '\0';
                if (modifier == '-')
                {
                    text = text.TrimEnd();
                }
                else if (kind is '%' or '#' && modifier != '+')
                {
                    text = LstripBlock(text, textStart);
                }
            }

            if (text.Length > 0)
            {
                _tokens.Add(new Token(TokenKind.Text, text, textStart));
            }

            if (tag < 0)
            {
                break;
            }

            _pos = tag;
            char tagKind = _src[tag + 1];
            stripNext = tagKind switch
            {
                '#' => LexComment(),
                '%' => LexTag(TokenKind.BlockStart, TokenKind.BlockEnd, "%}"),
                _ => LexTag(TokenKind.VariableStart, TokenKind.VariableEnd, "}}"),
            };
            afterBlockTag = tagKind != '{';
        }

        _tokens.Add(new Token(TokenKind.End, "", _length));
    }

    /// <summary>lstrip_blocks: spaces and tabs between the start of a line and a block tag go.</summary>
    private string LstripBlock(string text, int textStart)
    {
        int i = text.Length;
        while (i > 0 && text[i - 1] is ' ' or '\t')
        {
            i--;
        }

        int absolute = textStart + i;
        bool lineStart = absolute == 0 || _src[absolute - 1] == '\n';
        return lineStart ? text[..i] : text;
    }

    private int FindTag(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _length; i = _src.IndexOf('{', i + 1))
        {
            if (_src[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Skips a comment; returns whether it ended with '-#}'.</summary>
    private bool LexComment()
    {
        int end = _src.IndexOf("#}", _pos + 2, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("unterminated comment '{#'", _pos);
        }

        bool strip = _src[end - 1] == '-' && end - 1 > _pos + 2;
        _pos = end + 2;
        return strip;
    }

    /// <summary>Lexes one {% %} or {{ }} tag; returns whether it ended with '-'.</summary>
    private bool LexTag(TokenKind open, TokenKind close, string closer)
    {
        int start = _pos;
        _tokens.Add(new Token(open, _src.Substring(_pos, 2), _pos));
        _pos += 2;
        if (_pos < _length && _src[_pos] is '-' or '+')
        {
            _pos++;
        }

        int depth = 0; // open brackets: a '}}' inside a dict literal does not close the tag
        while (true)
        {
            while (_pos < _length && char.IsWhiteSpace(_src[_pos]))
            {
                _pos++;
            }

            if (_pos >= _length)
            {
                throw Error($"unterminated tag (no '{closer}')", start);
            }

            if (depth <= 0)
            {
                if (string.CompareOrdinal(_src, _pos, "-" + closer, 0, 3) == 0)
                {
                    _tokens.Add(new Token(close, closer, _pos));
                    _pos += 3;
                    return true;
                }

                if (string.CompareOrdinal(_src, _pos, closer, 0, 2) == 0)
                {
                    _tokens.Add(new Token(close, closer, _pos));
                    _pos += 2;
                    return false;
                }
            }

            char c = _src[_pos];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int s = _pos;
                while (_pos < _length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_'))
                {
                    _pos++;
                }

                _tokens.Add(new Token(TokenKind.Name, _src[s.._pos], s));
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (c is '\'' or '"')
            {
                LexString(c);
            }
            else
            {
                string? op = Array.Find(Operators, o => string.CompareOrdinal(_src, _pos, o, 0, o.Length) == 0);
                if (op is null)
                {
                    throw Error($"unexpected character '{c}'", _pos);
                }

                depth += op is "(" or "[" or "{" ? 1 : op is ")" or "]" or "}" ? -1 : 0;
                _tokens.Add(new Token(TokenKind.Operator, op, _pos));
                _pos += op.Length;
            }
        }
    }

    private void LexNumber()
    {
        int s = _pos;
        while (_pos < _length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_'))
        {
            _pos++;
        }

        bool isFloat = false;
        bool afterDot = _tokens.Count > 0 && _tokens[^1].Is(TokenKind.Operator, "."); // x.0.1 is two lookups
        if (!afterDot && _pos + 1 < _length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _length && char.IsAsciiDigit(_src[_pos]))
            {
                _pos++;
            }
        }

        string text = _src[s.._pos].Replace("_", "", StringComparison.Ordinal);
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, s));
    }

    /// <summary>A Python string literal: \n \t \r \\ \' \" \xHH \uHHHH; an unknown escape stays as written.</summary>
    private void LexString(char quote)
    {
        int s = _pos;
        _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _length)
            {
                throw Error("unterminated string literal", s);
            }

            char c = _src[_pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\' || _pos >= _length)
            {
                sb.Append(c);
                continue;
            }

            char e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '0': sb.Append('\0'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // a backslash-newline continues the line
                case 'x' or 'u' or 'U':
                    int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (_pos + n > _length || !int.TryParse(_src.AsSpan(_pos, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code))
                    {
                        throw Error($"invalid escape '\\{e}' in string literal", _pos - 2);
                    }

                    sb.Append(char.ConvertFromUtf32(code));
                    _pos += n;
                    break;
                default: sb.Append('\\').Append(e); break;
            }
        }

        _tokens.Add(new Token(TokenKind.String, sb.ToString(), s));
    }
}
