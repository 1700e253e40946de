using System.Buffers.Binary;
using System.Text;
using Xent.Cli.Npy;
using static Xent.Tests.Cli.NpyTestFiles;

namespace Xent.Tests.Cli;

/// <summary>
/// Whatever the bytes, the reader either returns a consistent array or throws <see cref="NpyFormatException"/>
/// with a one-line message: never an IndexOutOfRange, Overflow, OutOfMemory, Argument or any other exception.
/// </summary>
public class NpyFuzzTests
{
    private const string Name = "fuzz.npy";

    /// <summary>Valid files covering every version, both byte orders, Fortran order, scalars and empty arrays.</summary>
    private static readonly byte[][] Corpus =
    [
        NumpyInputF4,
        NumpyTargetI8,
        Build("<f4", "(2, 3)", Bytes(1f, 2f, 3f, 4f, 5f, 6f), fortranOrder: true),
        Build(">f8", "(3,)", BigEndianBytes(1.0, 2.0, 3.0)),
        Build("|u1", "()", [7]),
        Build("<f2", "(0, 4)", []),
        Build("<i4", "(2, 1, 2)", Bytes(1, 2, 3, 4), major: 2),
        Build("{\"descr\": \">i8\", \"fortran_order\": True, \"shape\": (2L, 2L)}", BigEndianBytes(1L, 2L, 3L, 4L), major: 3, pad: false),
        Build("<u2", "(1, 1, 1, 1, 3)", Bytes<ushort>(1, 2, 3)),
        Build("|i1", "(12,)", Bytes<sbyte>(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), fortranOrder: true),
    ];

    private static readonly string[] Descrs =
    [
        "<f2", "<f4", "<f8", ">f2", ">f4", ">f8", "<i8", ">i8", "<i4", ">i4", "<i2", "|i1", "|u1", "<u1", ">u1",
        "<u2", "<u4", "<u8", "|O", "|b1", "<c8", "<U3", "", "<", "f4", "|f4", "=f4", "<f4 ", "<f16", "<M8[ns]",
    ];

    private static readonly string[] Numbers =
    [
        "0", "1", "2", "3", "-1", "-0", "+2", "3L", "1.5", "0x10", "1e3", "1_0", "99999999999999999999",
        "9223372036854775807", "9223372036854775808", "4294967296", "2147483648", "536870912", "",
    ];

    private static readonly string[] Tokens =
    [
        "True", "False", "None", "(", ")", "[", "]", "{", "}", ":", ",", "'", "\"", "'shape'", "'descr'",
        "'fortran_order'", "\\", "-", "1L", "u'", "\n", "\0", "é", "\uFFFF", " ", "#", "(,)", "()", "(1,)",
    ];

    [Fact]
    public void EveryTruncationOfAValidFileIsAFormatError()
    {
        foreach (byte[] file in Corpus)
        {
            Assert.NotNull(NpyReader.Parse(file, Name));
            int dataStart = file.Length - NpyReader.Parse(file).Data.Length;
            for (int length = 0; length < file.Length; length++)
            {
                byte[] prefix = file[..length];
                NpyFormatException e = AssertFormatError(prefix);
                if (length >= dataStart)
                {
                    Assert.StartsWith($"{Name}: data is truncated:", e.Message);
                }

                Assert.IsType<NpyFormatException>(Record.Exception(() => NpyReader.Read(new PipeStream(prefix), Name)));
            }
        }
    }

    [Fact]
    public void EverySingleByteSubstitutionInAFileNumpyWrote()
    {
        // Bytes 0-127 of the target file: preamble, then {'descr': '<i8', 'fortran_order': False, 'shape': (3,), }
        // at 10-66, 60 padding spaces and a newline. A substituted data byte always loads; the random test has those.
        var lenient = new List<string>();
        int whitespace = 0;
        byte[] file = (byte[])NumpyTargetI8.Clone();
        for (int position = 0; position < 128; position++)
        {
            byte original = file[position];
            for (int value = 0; value < 256; value++)
            {
                if (value == original)
                {
                    continue;
                }

                file[position] = (byte)value;
                if (Check(file))
                {
                    if (value is ' ' or '\t' or '\n' or '\r' or '\f')
                    {
                        whitespace++;
                    }
                    else
                    {
                        lenient.Add($"{position}:{(char)value}");
                    }
                }
            }

            file[position] = original;
        }

        // Any whitespace may replace any of the 67 whitespace bytes, or the dict's optional trailing comma (64).
        Assert.Equal((67 * 4) + 5, whitespace);

        // Otherwise only: a u prefix on a string (19, 26, 50), big-endian '>' (21), and the same-size <f8 and <u8 (22).
        Assert.Equal(["19:U", "19:u", "21:>", "22:f", "22:u", "26:U", "26:u", "50:U", "50:u"], lenient);
    }

    [Fact]
    public void RandomMutationsOnlyEverLoadOrFailWithAFormatError()
    {
        const int Seed = 20_260_101;
        // A fixed count, not a time budget: under a loaded machine a budget ran too few cases and failed the test once.
        const int Iterations = 10_000;
        var random = new Random(Seed);
        int iterations = 0, loaded = 0;
        var log = new List<string>();
        for (; iterations < Iterations; iterations++)
        {
            log.Clear();
            byte[] file = Corpus[random.Next(Corpus.Length)];
            int mutations = 1 + random.Next(3);
            for (int m = 0; m < mutations; m++)
            {
                file = Mutate(file, random, log);
            }

            try
            {
                loaded += Check(file, alsoAsStreams: iterations % 4 == 0) ? 1 : 0;
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail(
                    $"Seed {Seed}, iteration {iterations}, mutations [{string.Join("; ", log)}]: {e.GetType().Name}: {e.Message}\n" +
                    $"bytes: {Convert.ToHexString(file.AsSpan(0, Math.Min(file.Length, 400)))}\n{e.StackTrace}");
            }
        }

        // The mutations are neither all fatal nor all harmless.
        Assert.InRange(loaded, iterations / 50, iterations / 2);
    }

    /// <summary>
    /// Reads <paramref name="file"/>: it must load into a consistent array that writes and reads back the same,
    /// or fail with a one-line <see cref="NpyFormatException"/> naming the file. Returns whether it loaded.
    /// </summary>
    private static bool Check(byte[] file, bool alsoAsStreams = false)
    {
        NpyArray? array = null;
        NpyFormatException? error = null;
        try
        {
            array = NpyReader.Parse(file, Name);
        }
        catch (NpyFormatException e)
        {
            error = e;
            AssertOneLine(e);
        }

        if (array is not null)
        {
            Assert.Equal(array.Count, array.Shape.Aggregate(1L, (a, b) => a * b));
            Assert.Equal(array.Count * array.ItemSize, array.Data.LongLength);
            var copy = new MemoryStream();
            NpyWriter.Write(copy, array);
            NpyArray again = NpyReader.Parse(copy.ToArray());
            Assert.Equal(array.Shape, again.Shape);
            Assert.Equal(array.DType, again.DType);
            Assert.Equal(array.Data, again.Data);
        }

        if (alsoAsStreams)
        {
            foreach (Stream stream in (Stream[])[new MemoryStream(file), new PipeStream(file)])
            {
                NpyArray? streamed = null;
                try
                {
                    streamed = NpyReader.Read(stream, Name);
                }
                catch (NpyFormatException e)
                {
                    AssertOneLine(e);
                    Assert.NotNull(error);
                }

                if (streamed is not null)
                {
                    Assert.NotNull(array);
                    Assert.Equal(array.Shape, streamed.Shape);
                    Assert.Equal(array.Data, streamed.Data);
                }
            }
        }

        return array is not null;
    }

    private static NpyFormatException AssertFormatError(byte[] file)
    {
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Parse(file, Name));
        AssertOneLine(e);
        return e;
    }

    private static void AssertOneLine(NpyFormatException e)
    {
        Assert.StartsWith(Name + ": ", e.Message);
        Assert.True(e.Message.Length > Name.Length + 2);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.False(e.Message.Any(char.IsControl), "a control character in: " + e.Message);
        Assert.InRange(e.Message.Length, 0, 400);
    }

    private static byte[] Mutate(byte[] file, Random random, List<string> log)
    {
        byte[] copy = (byte[])file.Clone();
        switch (random.Next(14))
        {
            case 0 when copy.Length > 0:
                for (int i = random.Next(1, 9); i > 0; i--)
                {
                    int bit = random.Next(copy.Length * 8);
                    copy[bit / 8] ^= (byte)(1 << (bit % 8));
                }

                log.Add("flip bits");
                return copy;
            case 1 when copy.Length > 0:
                {
                    // Bits of the preamble and header, where a flip changes meaning rather than a value.
                    int position = random.Next(Math.Min(copy.Length, 140));
                    copy[position] ^= (byte)(1 << random.Next(8));
                    log.Add($"flip a bit of byte {position}");
                    return copy;
                }

            case 2 when copy.Length > 0:
                {
                    byte[] interesting = [0, 0xFF, 0x80, (byte)'(', (byte)')', (byte)',', (byte)'\'', (byte)'-', (byte)'9', (byte)' ', (byte)'\n', (byte)'{', (byte)'}', (byte)'['];
                    int position = random.Next(copy.Length);
                    copy[position] = random.Next(2) == 0 ? interesting[random.Next(interesting.Length)] : (byte)random.Next(256);
                    log.Add($"set byte {position} to {copy[position]}");
                    return copy;
                }

            case 3:
                {
                    int length = random.Next(copy.Length + 1);
                    log.Add($"truncate to {length}");
                    return copy[..length];
                }

            case 4:
                {
                    byte[] tail = new byte[random.Next(1, 100)];
                    random.NextBytes(tail);
                    log.Add($"append {tail.Length} bytes");
                    return [.. copy, .. tail];
                }

            case 5:
                {
                    // A length field that lies: small, large, off by one, past every limit.
                    if (copy.Length < 12)
                    {
                        break;
                    }

                    int fieldSize = copy[6] == 1 ? 2 : 4;
                    uint actual = fieldSize == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(8));
                    uint[] lies = [0, 1, actual - 1, actual + 1, actual - 64, actual + 64, 0xFFFF, 0x100000, 0x100001, 0x7FFFFFFF, 0xFFFFFFFF, (uint)random.Next()];
                    uint lie = lies[random.Next(lies.Length)];
                    if (fieldSize == 2)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(8), (ushort)lie);
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(8), lie);
                    }

                    log.Add($"length field {lie}");
                    return copy;
                }

            case 6 when copy.Length > 7:
                {
                    byte[] versions = [0, 1, 2, 3, 4, 255];
                    copy[6] = versions[random.Next(versions.Length)];
                    copy[7] = random.Next(4) == 0 ? (byte)random.Next(3) : (byte)0;
                    log.Add($"version {copy[6]}.{copy[7]}");
                    return copy;
                }

            case 7:
                {
                    byte[] garbage = new byte[random.Next(300)];
                    random.NextBytes(garbage);
                    if (random.Next(2) == 0 && garbage.Length >= 8)
                    {
                        WriteMagic(garbage, (byte)random.Next(1, 4), 0);
                    }

                    log.Add($"garbage of {garbage.Length} bytes");
                    return garbage;
                }

            case 8:
                return EditHeader(copy, random, log, "replace a number", text =>
                {
                    var digits = System.Text.RegularExpressions.Regex.Matches(text, "[0-9]+");
                    if (digits.Count == 0)
                    {
                        return text;
                    }

                    var match = digits[random.Next(digits.Count)];
                    string number = random.Next(3) == 0
                        ? new string(Enumerable.Range(0, random.Next(1, 26)).Select(_ => (char)('0' + random.Next(10))).ToArray())
                        : Numbers[random.Next(Numbers.Length)];
                    return text[..match.Index] + number + text[(match.Index + match.Length)..];
                });
            case 9:
                return EditHeader(copy, random, log, "replace the descr", text =>
                {
                    int key = text.IndexOf("descr", StringComparison.Ordinal);
                    int open = key < 0 ? -1 : text.IndexOfAny(['\'', '"'], key + 6);
                    int close = open < 0 ? -1 : text.IndexOf(text[open], open + 1);
                    return close < 0 ? text : text[..(open + 1)] + Descrs[random.Next(Descrs.Length)] + text[close..];
                });
            case 10:
                return EditHeader(copy, random, log, "splice a token", text =>
                {
                    int at = random.Next(text.Length + 1);
                    int remove = random.Next(3) == 0 ? Math.Min(random.Next(1, 6), text.Length - at) : 0;
                    return text[..at] + Tokens[random.Next(Tokens.Length)] + text[(at + remove)..];
                });
            case 11:
                return EditHeader(copy, random, log, "toggle fortran_order", text =>
                    text.Contains("True", StringComparison.Ordinal) ? text.Replace("True", "False") : text.Replace("False", "True"));
            case 12:
                // A different shape with the same element count: the data still fits, so the array loads
                // (or is transposed) in a new shape.
                return EditHeader(copy, random, log, "reshape", text =>
                {
                    int open = text.IndexOf('(');
                    int close = open < 0 ? -1 : text.IndexOf(')', open);
                    if (close < 0)
                    {
                        return text;
                    }

                    long count = 1;
                    foreach (string dim in text[(open + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        count *= long.TryParse(dim.TrimEnd('L'), out long d) && d is >= 0 and < 1000 ? d : 1;
                    }

                    return text[..open] + RandomShapeOf(count, random) + text[(close + 1)..];
                });
            case 13 when copy.Length > 20:
                {
                    int at = random.Next(10, Math.Min(copy.Length, 140));
                    int length = random.Next(1, 10);
                    log.Add($"delete {length} bytes at {at}");
                    return [.. copy[..at], .. copy[Math.Min(copy.Length, at + length)..]];
                }
        }

        log.Add("flip one bit");
        if (copy.Length > 0)
        {
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        }

        return copy;
    }

    /// <summary>A tuple of 0 to 5 dimensions whose product is <paramref name="count"/>.</summary>
    private static string RandomShapeOf(long count, Random random)
    {
        int rank = count == 1 ? random.Next(0, 6) : random.Next(1, 6);
        var dims = Enumerable.Repeat(1L, rank).ToArray();
        if (count == 0)
        {
            dims[random.Next(rank)] = 0;
        }
        else
        {
            long rest = count;
            for (long p = 2; p * p <= rest; p++)
            {
                while (rest % p == 0)
                {
                    dims[random.Next(rank)] *= p;
                    rest /= p;
                }
            }

            if (rest > 1)
            {
                dims[random.Next(rank)] *= rest;
            }
        }

        return rank == 1 ? $"({dims[0]},)" : $"({string.Join(", ", dims)})";
    }

    /// <summary>
    /// Applies <paramref name="edit"/> to the header text and, most of the time, fixes the length field to match,
    /// so the edit reaches the parser rather than just breaking the framing.
    /// </summary>
    private static byte[] EditHeader(byte[] file, Random random, List<string> log, string what, Func<string, string> edit)
    {
        log.Add(what);
        if (file.Length < 12)
        {
            return file;
        }

        int fieldSize = file[6] == 1 ? 2 : 4;
        long length = fieldSize == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8));
        int start = 8 + fieldSize;
        length = Math.Min(length, file.Length - start);
        Encoding encoding = file[6] == 3 ? Encoding.UTF8 : Encoding.Latin1;
        byte[] header = encoding.GetBytes(edit(encoding.GetString(file, start, (int)length)));
        byte[] result = [.. file[..start], .. header, .. file[(start + (int)length)..]];
        if (random.Next(10) != 0)
        {
            if (fieldSize == 2)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)header.Length);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)header.Length);
            }
        }

        return result;
    }
}
