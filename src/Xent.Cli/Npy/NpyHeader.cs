using System.Text;

namespace Xent.Cli.Npy;

/// <summary>
/// The header dict of a .npy file, e.g. <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 5), }</c>,
/// parsed and checked, with the sizes it implies.
/// </summary>
/// <remarks>
/// NumPy reads this dict with <c>ast.literal_eval</c>. Here a hand-written tokenizer accepts the subset NumPy
/// writes, and nothing is ever evaluated: string keys, a string descr, <c>True</c>/<c>False</c>, and a tuple of
/// integers (with the <c>L</c> suffix Python 2 wrote, which NumPy also still accepts). Unlike NumPy, a duplicated
/// key is an error rather than "last one wins", so a file cannot say two things about itself.
/// </remarks>
internal sealed class NpyHeader
{
    /// <summary>The most dimensions a shape may have; NumPy 2's <c>NPY_MAXDIMS</c>.</summary>
    public const int MaxRank = 64;

    /// <summary>The most characters of header text quoted back in an error message.</summary>
    private const int MaxQuoted = 40;

    private NpyHeader(string descr, NpyDType dtype, bool bigEndian, bool fortranOrder, long[] shape, long count)
    {
        Descr = descr;
        DType = dtype;
        BigEndian = bigEndian;
        FortranOrder = fortranOrder;
        Shape = shape;
        Count = count;
        ByteCount = count * dtype.ItemSize();
    }

    /// <summary>The descr exactly as the file wrote it, e.g. <c>&gt;f8</c>.</summary>
    public string Descr { get; }

    /// <summary>The element type.</summary>
    public NpyDType DType { get; }

    /// <summary>Whether the elements are stored big-endian and must be byte-swapped.</summary>
    public bool BigEndian { get; }

    /// <summary>Whether the elements are stored in Fortran (column-major) order.</summary>
    public bool FortranOrder { get; }

    /// <summary>The dimensions, outermost first.</summary>
    public long[] Shape { get; }

    /// <summary>The number of elements, the product of <see cref="Shape"/>.</summary>
    public long Count { get; }

    /// <summary>The number of data bytes that must follow the header: <see cref="Count"/> × item size.</summary>
    public long ByteCount { get; }

    /// <summary>Parses and checks the header dict <paramref name="text"/>.</summary>
    /// <param name="text">The decoded header: the dict literal and its padding.</param>
    /// <param name="fileName">The name that starts every error message.</param>
    /// <exception cref="NpyFormatException">The text is not a valid header, or describes an unsupported or impossible array.</exception>
    public static NpyHeader Parse(string text, string fileName) => new Parser(text, fileName).ParseDict();

    /// <summary>Formats a shape as the Python tuple the header holds: <c>()</c>, <c>(3,)</c>, <c>(3, 5)</c>.</summary>
    internal static string FormatTuple(ReadOnlySpan<long> shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape.ToArray())})";

    /// <summary>
    /// Quotes <paramref name="value"/> the way Python's <c>repr</c> would, on one line, cut to
    /// <see cref="MaxQuoted"/> characters.
    /// </summary>
    internal static string Repr(string value)
    {
        var builder = new StringBuilder("'");
        foreach (char c in value.Length > MaxQuoted ? value[..MaxQuoted] : value)
        {
            builder.Append(c switch
            {
                '\\' => "\\\\",
                '\'' => "\\'",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }

        return builder.Append(value.Length > MaxQuoted ? "'..." : "'").ToString();
    }

    private static string Cut(string raw) => raw.Length > MaxQuoted ? raw[..MaxQuoted] + "..." : raw;

    private enum TokenKind
    {
        End,
        Punct,
        String,
        Number,
        Name,
        Invalid,
    }

    /// <summary>One token. <see cref="Text"/> is the decoded value of a string, and the source text otherwise.</summary>
    private readonly record struct Token(TokenKind Kind, string Text)
    {
        public bool Is(char punct) => Kind == TokenKind.Punct && Text[0] == punct;

        /// <summary>The token as an error message shows what it found instead of what it expected.</summary>
        public string Describe() => Kind switch
        {
            TokenKind.End => "the end of the header",
            TokenKind.Punct => $"'{Text}'",
            TokenKind.String => $"the string {Repr(Text)}",
            TokenKind.Invalid => $"the character {Repr(Text)}",
            _ => Cut(Text),
        };
    }

    private ref struct Parser(string text, string fileName)
    {
        private readonly string _text = text;
        private readonly string _fileName = fileName;
        private int _pos;

        public NpyHeader ParseDict()
        {
            Token open = Next();
            if (!open.Is('{'))
            {
                throw Error($"the header is not a Python dict literal: expected '{{', found {open.Describe()}");
            }

            string? descr = null;
            NpyDType dtype = default;
            bool bigEndian = false;
            bool? fortranOrder = null;
            long[]? shape = null;
            while (true)
            {
                Token key = Next();
                if (key.Is('}'))
                {
                    break;
                }

                if (key.Kind != TokenKind.String)
                {
                    throw Error($"malformed header: expected a string key or '}}', found {key.Describe()}");
                }

                Token colon = Next();
                if (!colon.Is(':'))
                {
                    throw Error($"malformed header: expected ':' after the key {Repr(key.Text)}, found {colon.Describe()}");
                }

                switch (key.Text)
                {
                    case "descr":
                        if (descr is not null)
                        {
                            throw Error("duplicate key 'descr' in the header");
                        }

                        descr = ParseDescr(out dtype, out bigEndian);
                        break;
                    case "fortran_order":
                        if (fortranOrder is not null)
                        {
                            throw Error("duplicate key 'fortran_order' in the header");
                        }

                        fortranOrder = ParseFortranOrder();
                        break;
                    case "shape":
                        if (shape is not null)
                        {
                            throw Error("duplicate key 'shape' in the header");
                        }

                        shape = ParseShape();
                        break;
                    default:
                        throw Error(
                            $"unknown key {Repr(key.Text)} in the header (expected 'descr', 'fortran_order' and 'shape')");
                }

                Token separator = Next();
                if (separator.Is('}'))
                {
                    break;
                }

                if (!separator.Is(','))
                {
                    throw Error(
                        $"malformed header: expected ',' or '}}' after the value of {Repr(key.Text)}, found {separator.Describe()}");
                }
            }

            Token end = Next();
            if (end.Kind != TokenKind.End)
            {
                throw Error($"malformed header: {end.Describe()} after the closing '}}', where the header should end");
            }

            if (descr is null)
            {
                throw Error("missing key 'descr' in the header");
            }

            if (fortranOrder is null)
            {
                throw Error("missing key 'fortran_order' in the header");
            }

            if (shape is null)
            {
                throw Error("missing key 'shape' in the header");
            }

            return new NpyHeader(descr, dtype, bigEndian, fortranOrder.Value, shape, CountElements(shape, dtype));
        }

        private string ParseDescr(out NpyDType dtype, out bool bigEndian)
        {
            Token value = Next();
            if (value.Is('['))
            {
                throw Error("unsupported dtype: structured dtypes (a list descr) are not supported");
            }

            if (value.Kind != TokenKind.String)
            {
                throw Error($"'descr' must be a string such as '<f4', found {value.Describe()}");
            }

            if (!NpyDTypes.TryParseDescr(value.Text, out dtype, out bigEndian, out string? reason))
            {
                throw Error($"unsupported dtype {Repr(value.Text)} ({reason})");
            }

            return value.Text;
        }

        private bool ParseFortranOrder()
        {
            Token value = Next();
            return value switch
            {
                { Kind: TokenKind.Name, Text: "True" } => true,
                { Kind: TokenKind.Name, Text: "False" } => false,
                _ => throw Error($"'fortran_order' must be True or False, found {value.Describe()}"),
            };
        }

        private long[] ParseShape()
        {
            Token open = Next();
            if (!open.Is('('))
            {
                throw Error($"'shape' must be a tuple of non-negative integers, found {open.Describe()}");
            }

            var dims = new List<long>();
            while (true)
            {
                Token item = Next();
                if (item.Is(')'))
                {
                    // Here only straight after '(' or after a comma: "()" and "(3,)" and "(3, 5,)".
                    return [.. dims];
                }

                if (item.Kind != TokenKind.Number)
                {
                    throw Error($"'shape' must be a tuple of non-negative integers, found {item.Describe()} in it");
                }

                if (dims.Count == MaxRank)
                {
                    throw Error($"'shape' has more than {MaxRank} dimensions");
                }

                dims.Add(ParseDimension(item.Text));
                Token separator = Next();
                if (separator.Is(')'))
                {
                    if (dims.Count == 1)
                    {
                        throw Error(
                            $"'shape' must be a tuple, found ({Cut(item.Text)}), which Python reads as an integer; a 1-D shape is written ({Cut(item.Text)},)");
                    }

                    return [.. dims];
                }

                if (!separator.Is(','))
                {
                    throw Error($"malformed header: expected ',' or ')' in 'shape', found {separator.Describe()}");
                }
            }
        }

        private long ParseDimension(string raw)
        {
            ReadOnlySpan<char> digits = raw;
            bool negative = false;
            if (digits[0] is '-' or '+')
            {
                negative = digits[0] == '-';
                digits = digits[1..];
            }

            if (digits.Length > 0 && digits[^1] is 'L' or 'l')
            {
                digits = digits[..^1];
            }

            if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9'))
            {
                throw Error($"'shape' must be a tuple of non-negative integers, found {Cut(raw)} in it");
            }

            if (negative && digits.ContainsAnyExcept('0'))
            {
                throw Error($"negative dimension {Cut(raw)} in 'shape'");
            }

            long value = 0;
            foreach (char c in digits)
            {
                int digit = c - '0';
                if (value > (long.MaxValue - digit) / 10)
                {
                    throw Error($"dimension {Cut(raw)} in 'shape' is too large");
                }

                value = (value * 10) + digit;
            }

            return value;
        }

        /// <summary>The element count, checked so that neither it nor the byte count overflows a <see cref="long"/>.</summary>
        private long CountElements(long[] shape, NpyDType dtype)
        {
            // As in NumPy, a zero anywhere makes the array empty however large the other dimensions are.
            if (Array.IndexOf(shape, 0L) >= 0)
            {
                return 0;
            }

            long count = 1;
            foreach (long dim in shape)
            {
                if (count > long.MaxValue / dim)
                {
                    throw Error($"shape {FormatTuple(shape)} has too many elements (the count overflows a 64-bit integer)");
                }

                count *= dim;
            }

            if (count > long.MaxValue / dtype.ItemSize())
            {
                throw Error($"shape {FormatTuple(shape)} of {dtype.Descr()} needs more than {long.MaxValue} bytes");
            }

            return count;
        }

        private Token Next()
        {
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r' or '\f')
            {
                _pos++;
            }

            if (_pos == _text.Length)
            {
                return new Token(TokenKind.End, "");
            }

            int start = _pos;
            char c = _text[_pos];
            switch (c)
            {
                case '{' or '}' or '(' or ')' or '[' or ']' or ':' or ',':
                    _pos++;
                    return new Token(TokenKind.Punct, c.ToString());
                case '\'' or '"':
                    return LexString();
                case (>= '0' and <= '9') or '-' or '+':
                    _pos++;
                    while (_pos < _text.Length && IsWordChar(_text[_pos]))
                    {
                        _pos++;
                    }

                    return _pos - start == 1 && c is '-' or '+'
                        ? new Token(TokenKind.Invalid, c.ToString())
                        : new Token(TokenKind.Number, _text[start.._pos]);
                case (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_':
                    // u'...' is a Python 2 unicode literal; Python 3 reads it as a plain string.
                    if (c is 'u' or 'U' && _pos + 1 < _text.Length && _text[_pos + 1] is '\'' or '"')
                    {
                        _pos++;
                        return LexString();
                    }

                    while (_pos < _text.Length && IsWordChar(_text[_pos]))
                    {
                        _pos++;
                    }

                    return new Token(TokenKind.Name, _text[start.._pos]);
                default:
                    _pos++;
                    return new Token(TokenKind.Invalid, c.ToString());
            }
        }

        private Token LexString()
        {
            char quote = _text[_pos];
            var value = new StringBuilder();
            for (int i = _pos + 1; i < _text.Length; i++)
            {
                char c = _text[i];
                if (c == quote)
                {
                    _pos = i + 1;
                    return new Token(TokenKind.String, value.ToString());
                }

                if (c == '\n')
                {
                    break;
                }

                if (c == '\\' && i + 1 < _text.Length)
                {
                    char escaped = _text[++i];
                    switch (escaped)
                    {
                        case '\\' or '\'' or '"': value.Append(escaped); break;
                        case 'n': value.Append('\n'); break;
                        case 't': value.Append('\t'); break;
                        case 'r': value.Append('\r'); break;
                        default: value.Append('\\').Append(escaped); break; // Python keeps unknown escapes as written.
                    }

                    continue;
                }

                value.Append(c);
            }

            // Show the rest of the line after the opening quote: that is where the closing quote is missing.
            string rest = _text[(_pos + 1)..];
            int newline = rest.IndexOf('\n');
            throw Error($"malformed header: unterminated string {Repr(newline >= 0 ? rest[..newline] : rest)}");
        }

        private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.';

        private readonly NpyFormatException Error(string reason) => new(_fileName, reason);
    }
}
