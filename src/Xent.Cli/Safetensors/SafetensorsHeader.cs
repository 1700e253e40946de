using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Xent.Cli.Npy;

namespace Xent.Cli.Safetensors;

/// <summary>One tensor of a .safetensors file, as its header describes it.</summary>
/// <param name="Name">The tensor's name, the key in the header.</param>
/// <param name="DType">The dtype as written, e.g. <c>F32</c> or <c>BF16</c>.</param>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Begin">The offset of the first byte, from the start of the data buffer (after the header).</param>
/// <param name="End">The offset one past the last byte.</param>
internal sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>The number of elements, the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>The .safetensors file is malformed. The message is one line, <c>{file}: {reason}</c>, with any control
/// character (a header's bytes that a JSON error quotes, a NUL or an escape among them) written as <c>\xNN</c>.</summary>
internal sealed class SafetensorsFormatException(string fileName, string reason)
    : FormatException($"{NpyFormatException.OneLine(fileName)}: {NpyFormatException.OneLine(reason)}");

/// <summary>
/// The header of a .safetensors file: an 8-byte little-endian length N, then N bytes of UTF-8 JSON mapping each tensor
/// name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (plus an optional <c>__metadata__</c> map of
/// strings), then the data buffer that the offsets point into.
/// </summary>
/// <remarks>
/// Everything is checked before any data is touched, so a hostile file cannot make the reader allocate or read out of
/// bounds: the header length (at most <see cref="MaxHeaderLength"/>, as the reference implementation allows, and
/// within the file), the JSON, each entry's fields, non-negative dimensions whose element count fits, and offsets
/// with begin ≤ end ≤ the data buffer's length and end − begin equal to the count times the item size of a known dtype.
/// A duplicated tensor name is an error rather than "last one wins".
/// </remarks>
internal sealed class SafetensorsHeader
{
    /// <summary>The largest header the reference implementation (safetensors' <c>MAX_HEADER_SIZE</c>) accepts.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private SafetensorsHeader(IReadOnlyList<SafetensorsEntry> entries, long dataStart, long dataLength)
    {
        Entries = entries;
        DataStart = dataStart;
        DataLength = dataLength;
    }

    /// <summary>The tensors, in the header's order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The file offset of the data buffer: 8 + the header length.</summary>
    public long DataStart { get; }

    /// <summary>The length of the data buffer: the rest of the file.</summary>
    public long DataLength { get; }

    /// <summary>The size in bytes of one element of each dtype the format defines, or 0 for an unknown dtype.</summary>
    public static int ItemSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" or "F8_E8M0" => 1,
        "U16" or "I16" or "F16" or "BF16" => 2,
        "U32" or "I32" or "F32" => 4,
        "U64" or "I64" or "F64" => 8,
        _ => 0,
    };

    /// <summary>Reads and checks the header of the .safetensors stream.</summary>
    /// <param name="stream">A seekable stream at the start of the file.</param>
    /// <param name="fileName">The name that starts every error message.</param>
    /// <exception cref="SafetensorsFormatException">The header is malformed.</exception>
    /// <exception cref="IOException">The stream fails.</exception>
    public static SafetensorsHeader Read(Stream stream, string fileName)
    {
        long fileLength = stream.Length - stream.Position;
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw new SafetensorsFormatException(fileName, $"file is too short to be a .safetensors file ({fileLength} bytes)");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderLength)
        {
            throw new SafetensorsFormatException(fileName, $"header length {headerLength} is too large (at most {MaxHeaderLength} bytes)");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw new SafetensorsFormatException(fileName, $"header is truncated: the length field says {headerLength} bytes, but only {fileLength - 8} follow");
        }

        byte[] json = new byte[headerLength];
        stream.ReadExactly(json);
        return Parse(json, fileName, 8 + (long)headerLength, fileLength - 8 - (long)headerLength);
    }

    /// <summary>Parses and checks header JSON against a data buffer of <paramref name="dataLength"/> bytes that starts
    /// at file offset <paramref name="dataStart"/>.</summary>
    /// <exception cref="SafetensorsFormatException">The header is malformed.</exception>
    internal static SafetensorsHeader Parse(ReadOnlySpan<byte> json, string fileName, long dataStart, long dataLength)
    {
        if (json.IsEmpty || json[0] != (byte)'{')
        {
            throw new SafetensorsFormatException(fileName, "the header is not a JSON object (it must start with '{')");
        }

        // JsonDocument checks the UTF-8 of the structure only: bad bytes inside a string surface later, when the string is
        // read, as an InvalidOperationException (which `xent eval` once reported as a crash). So the whole header first.
        int invalid = FirstInvalidUtf8(json);
        if (invalid >= 0)
        {
            throw new SafetensorsFormatException(fileName, $"the header is not valid UTF-8 (byte 0x{json[invalid]:X2} at file offset {dataStart - json.Length + invalid})");
        }

        JsonDocument document;
        try
        {
            // The format pads headers with trailing spaces, which JSON allows.
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(fileName, $"the header is not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }

        using (document)
        {
            try
            {
                return ParseDocument(document, fileName, dataStart, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // A string whose escapes make no valid UTF-16 (a lone surrogate such as \ud800) throws when it is read.
                throw new SafetensorsFormatException(fileName, $"the header holds a string that is not valid Unicode ({e.Message.ReplaceLineEndings(" ")})");
            }
        }
    }

    /// <summary>The index of the first byte of <paramref name="bytes"/> that does not begin a valid UTF-8 sequence, or −1.</summary>
    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return -1;
        }

        int at = 0;
        while (Rune.DecodeFromUtf8(bytes[at..], out _, out int consumed) == System.Buffers.OperationStatus.Done)
        {
            at += consumed;
        }

        return at;
    }

    /// <summary>The entries of a parsed header, checked (see <see cref="Parse"/>).</summary>
    private static SafetensorsHeader ParseDocument(JsonDocument document, string fileName, long dataStart, long dataLength)
    {
        var entries = new List<SafetensorsEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in document.RootElement.EnumerateObject())
        {
            if (!names.Add(property.Name))
            {
                throw new SafetensorsFormatException(fileName, $"duplicate key {Quote(property.Name)} in the header");
            }

            if (property.Name == "__metadata__")
            {
                CheckMetadata(property.Value, fileName);
                continue;
            }

            entries.Add(ParseEntry(property.Name, property.Value, fileName, dataLength));
        }

        CheckTiling(entries, fileName, dataLength);
        return new SafetensorsHeader(entries, dataStart, dataLength);
    }

    /// <summary>As the reference implementation's <c>validate</c>: taken in order of their offsets, the tensors must
    /// tile the data buffer, each beginning where the one before ends and the last ending at the buffer's end. A gap,
    /// an overlap or trailing bytes mean a corrupt or hand-edited file, whose offsets cannot be trusted.</summary>
    private static void CheckTiling(List<SafetensorsEntry> entries, string fileName, long dataLength)
    {
        long end = 0;
        foreach (SafetensorsEntry entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin != end)
            {
                throw new SafetensorsFormatException(fileName, $"tensor {Quote(entry.Name)}: data_offsets [{entry.Begin}, {entry.End}] " +
                    (entry.Begin > end ? $"leave a gap after byte {end}" : $"overlap the bytes before {end}") +
                    "; the tensors must fill the data buffer one after another");
            }

            end = entry.End;
        }

        if (end != dataLength)
        {
            throw new SafetensorsFormatException(fileName, $"the tensors end at byte {end} of the {dataLength}-byte data buffer; the tensors must fill it");
        }
    }

    /// <summary>The tensor named <paramref name="name"/>, or, when no name is given, the file's only tensor.</summary>
    /// <exception cref="CliException">There is no such tensor, or no name was given and the file holds several.</exception>
    public SafetensorsEntry Find(string? name, string fileName)
    {
        if (name is null)
        {
            return Entries.Count == 1
                ? Entries[0]
                : throw new CliException($"{fileName} holds {Entries.Count} tensors; name one as {fileName}:NAME ({ListNames()})", ExitCodes.Usage);
        }

        return Entries.FirstOrDefault(e => e.Name == name)
            ?? throw new CliException($"{fileName} has no tensor {Quote(name)} ({ListNames()})");
    }

    private string ListNames()
    {
        if (Entries.Count == 0)
        {
            return "it holds none";
        }

        IEnumerable<string> shown = Entries.Take(10).Select(e => Quote(e.Name));
        return "it holds " + string.Join(", ", shown) + (Entries.Count > 10 ? $" and {Entries.Count - 10} more" : string.Empty);
    }

    private static SafetensorsEntry ParseEntry(string name, JsonElement value, string fileName, long dataLength)
    {
        string where = $"tensor {Quote(name)}";
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsFormatException(fileName, $"{where}: expected an object with dtype, shape and data_offsets, found {Kind(value)}");
        }

        string? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtype is null:
                    dtype = field.Value.ValueKind == JsonValueKind.String
                        ? field.Value.GetString()!
                        : throw new SafetensorsFormatException(fileName, $"{where}: 'dtype' must be a string, found {Kind(field.Value)}");
                    break;
                case "shape" when shape is null:
                    shape = Integers(field.Value, where, "shape", fileName);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = Integers(field.Value, where, "data_offsets", fileName);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new SafetensorsFormatException(fileName, $"{where}: duplicate key '{field.Name}'");
                default:
                    // Other keys are ignored, as the reference implementation's deserializer ignores them.
                    break;
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsFormatException(fileName, $"{where}: missing key '{missing}'");
        }

        if (offsets.Length != 2)
        {
            throw new SafetensorsFormatException(fileName, $"{where}: 'data_offsets' must be [begin, end], found {offsets.Length} numbers");
        }

        long begin = offsets[0], end = offsets[1];
        if (begin > end)
        {
            throw new SafetensorsFormatException(fileName, $"{where}: data_offsets [{begin}, {end}] end before they begin");
        }

        if (end > dataLength)
        {
            throw new SafetensorsFormatException(fileName, $"{where}: data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes)");
        }

        long count = 1;
        foreach (long dim in shape)
        {
            if (dim != 0 && count > long.MaxValue / 8 / dim)
            {
                throw new SafetensorsFormatException(fileName, $"{where}: shape {CliFormat.ShapeString(shape)} has too many elements");
            }

            count *= dim;
        }

        int itemSize = ItemSize(dtype);
        if (itemSize != 0 && end - begin != count * itemSize)
        {
            throw new SafetensorsFormatException(fileName,
                $"{where}: {dtype} {CliFormat.ShapeString(shape)} needs {count * itemSize} bytes, but data_offsets [{begin}, {end}] hold {end - begin}");
        }

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long[] Integers(JsonElement value, string where, string key, string fileName)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsFormatException(fileName, $"{where}: '{key}' must be an array of non-negative integers, found {Kind(value)}");
        }

        var result = new List<long>();
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long number) || number < 0)
            {
                throw new SafetensorsFormatException(fileName, $"{where}: '{key}' must hold non-negative integers, found {Raw(item)}");
            }

            if (result.Count == NpyHeader.MaxRank)
            {
                throw new SafetensorsFormatException(fileName, $"{where}: '{key}' has more than {NpyHeader.MaxRank} entries");
            }

            result.Add(number);
        }

        return [.. result];
    }

    private static void CheckMetadata(JsonElement value, string fileName)
    {
        if (value.ValueKind != JsonValueKind.Object || value.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
        {
            throw new SafetensorsFormatException(fileName, "'__metadata__' must be an object of strings");
        }
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string Raw(JsonElement value)
    {
        string raw = value.GetRawText();
        return raw.Length > 40 ? raw[..40] + "..." : raw;
    }

    private static string Quote(string name) => NpyHeader.Repr(name);
}
