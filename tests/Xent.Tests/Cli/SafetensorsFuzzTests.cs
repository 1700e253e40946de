using System.Buffers.Binary;
using System.Text;
using Xent.Cli.Safetensors;

namespace Xent.Tests.Cli;

/// <summary>
/// Whatever the bytes, <see cref="SafetensorsHeader.Read"/> either returns a header whose entries are consistent (known
/// dtypes sized by their shape, offsets inside the data buffer and tiling it) or throws
/// <see cref="SafetensorsFormatException"/> with a one-line message naming the file: never a JSON, Overflow, Argument,
/// InvalidOperation or any other exception. As <see cref="NpyFuzzTests"/> holds the .npy reader to.
/// </summary>
public class SafetensorsFuzzTests
{
    private const string Name = "fuzz.safetensors";

    /// <summary>Valid files: one tensor, several in another order than their data, metadata, a scalar, an empty
    /// tensor, an unknown dtype (read, not sized), the format's space padding, and a nested unknown key.</summary>
    private static readonly byte[][] Corpus =
    [
        File("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24),
        File("{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]},\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}", 16),
        File("{\"e\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[0,0]},\"y\":{\"dtype\":\"U8\",\"shape\":[1,1,3],\"data_offsets\":[0,3]}}", 3),
        File("{\"q\":{\"dtype\":\"F4\",\"shape\":[7],\"data_offsets\":[0,4]}}        ", 4),
        File("{\"z\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8],\"extra\":{\"k\":[1,{\"v\":null}]}}}", 8),
    ];

    private static readonly string[] Tokens =
    [
        "{", "}", "[", "]", ":", ",", "\"", "\\", "\\u0000", "\\ud800", "\\udc00x", "\\n", "-", "0", "1", "-1", "1e3", "1.5", "9223372036854775807",
        "9223372036854775808", "18446744073709551616", "null", "true", "\"dtype\"", "\"shape\"", "\"data_offsets\"",
        "\"__metadata__\"", "\"F32\"", "\"BF16\"", "\"BOOL\"", "[0,0]", "[]", "{}", "\n", "\t", " ", "\u00e9", "\uFFFF",
        "[[[[[[[[[[", "]]]]]]]]]]",
    ];

    [Fact]
    public void EveryTruncationOfAValidFileIsAFormatError()
    {
        foreach (byte[] file in Corpus)
        {
            Assert.True(Check(file), Encoding.UTF8.GetString(file, 8, file.Length - 8));
            for (int length = 0; length < file.Length; length++)
            {
                Assert.False(Check(file[..length]), $"a {length}-byte prefix of a {file.Length}-byte file loaded");
            }
        }
    }

    [Fact]
    public void EverySingleByteSubstitutionLoadsConsistentlyOrFailsWithAFormatError()
    {
        int loaded = 0, failed = 0;
        foreach (byte[] original in Corpus)
        {
            byte[] file = (byte[])original.Clone();
            int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
            for (int position = 0; position < headerEnd; position++)
            {
                byte kept = file[position];
                for (int value = 0; value < 256; value++)
                {
                    if (value != kept)
                    {
                        file[position] = (byte)value;
                        _ = Check(file) ? loaded++ : failed++;
                    }
                }

                file[position] = kept;
            }
        }

        // Some substitutions are harmless (a name's letters, the padding), most are not.
        Assert.InRange(loaded, 100, failed / 4);
    }

    [Fact]
    public void RandomMutationsOnlyEverLoadOrFailWithAFormatError()
    {
        const int Seed = 20_261_125;
        const int Iterations = 20_000;
        var random = new Random(Seed);
        int loaded = 0;
        var log = new List<string>();
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            log.Clear();
            byte[] file = Corpus[random.Next(Corpus.Length)];
            for (int m = 1 + random.Next(3); m > 0; m--)
            {
                file = Mutate(file, random, log);
            }

            try
            {
                loaded += Check(file) ? 1 : 0;
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"Seed {Seed}, iteration {iteration}, mutations [{string.Join("; ", log)}]: {e.GetType().Name}: {e.Message}\n" +
                    $"header: {Encoding.UTF8.GetString(file, 8, Math.Min(file.Length - 8, 400))}\n{e.StackTrace}");
            }
        }

        // The mutations are neither all fatal nor all harmless.
        Assert.InRange(loaded, Iterations / 100, Iterations / 2);
    }

    /// <summary>Reads <paramref name="file"/>: a consistent header, or a one-line <see cref="SafetensorsFormatException"/>
    /// naming the file. Returns whether it loaded.</summary>
    private static bool Check(byte[] file)
    {
        SafetensorsHeader header;
        try
        {
            header = SafetensorsHeader.Read(new MemoryStream(file), Name);
        }
        catch (SafetensorsFormatException e)
        {
            Assert.StartsWith(Name + ": ", e.Message);
            Assert.True(e.Message.Length > Name.Length + 2);
            Assert.False(e.Message.Any(char.IsControl), $"a control character in: {e.Message}");
            Assert.InRange(e.Message.Length, 0, 600);
            return false;
        }

        Assert.Equal(file.Length, header.DataStart + header.DataLength);
        long end = 0;
        foreach (SafetensorsEntry entry in header.Entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            Assert.All(entry.Shape, d => Assert.True(d >= 0));
            Assert.Equal(end, entry.Begin);
            Assert.InRange(entry.End, entry.Begin, header.DataLength);
            int itemSize = SafetensorsHeader.ItemSize(entry.DType);
            if (itemSize != 0)
            {
                Assert.Equal(entry.End - entry.Begin, entry.Count * itemSize);
            }

            end = entry.End;
        }

        Assert.Equal(header.DataLength, end);
        Assert.Equal(header.Entries.Count, header.Entries.Select(e => e.Name).Distinct().Count());
        return true;
    }

    private static byte[] Mutate(byte[] file, Random random, List<string> log)
    {
        int headerEnd = file.Length < 8 ? file.Length : (int)Math.Min((ulong)file.Length, 8 + Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(file), (ulong)file.Length));
        int at = random.Next(8, Math.Max(9, headerEnd));
        byte[] result;
        switch (random.Next(5))
        {
            case 0:
                // A random byte.
                result = (byte[])file.Clone();
                result[Math.Min(at, result.Length - 1)] = (byte)random.Next(256);
                log.Add($"byte at {at}");
                break;
            case 1:
                // A token spliced in, the length field kept in step so that the JSON, not the length, is what is wrong.
                byte[] token = Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]);
                result = [.. file.AsSpan(0, at), .. token, .. file.AsSpan(at)];
                Resize(result, token.Length);
                log.Add($"'{Encoding.UTF8.GetString(token)}' at {at}");
                break;
            case 2:
                // A run of the header cut out, the length field kept in step.
                int cut = Math.Min(1 + random.Next(6), Math.Max(0, headerEnd - at));
                result = [.. file.AsSpan(0, at), .. file.AsSpan(at + cut)];
                Resize(result, -cut);
                log.Add($"cut {cut} at {at}");
                break;
            case 3:
                // A digit changed to another, or a number grown: offsets and shapes that no longer agree.
                result = (byte[])file.Clone();
                int digit = Array.FindIndex(result, Math.Min(at, result.Length - 1), b => b is >= (byte)'0' and <= (byte)'9');
                if (digit >= 0 && digit < headerEnd)
                {
                    result[digit] = (byte)('0' + random.Next(10));
                }

                log.Add($"digit at {digit}");
                break;
            default:
                // The length field or the data changed.
                result = random.Next(2) == 0 ? [.. file, .. new byte[1 + random.Next(16)]] : (byte[])file.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(result, BinaryPrimitives.ReadUInt64LittleEndian(result) + (ulong)(random.Next(5) - 2));
                log.Add("length or data");
                break;
        }

        return result;
    }

    /// <summary>Adds <paramref name="delta"/> to the file's header length field.</summary>
    private static void Resize(byte[] file, int delta)
    {
        if (file.Length >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)((long)BinaryPrimitives.ReadUInt64LittleEndian(file) + delta));
        }
    }

    private static byte[] File(string header, int dataBytes) => SafetensorsTestFiles.Build(header, dataBytes);
}
