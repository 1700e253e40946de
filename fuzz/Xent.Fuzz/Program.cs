using SharpFuzz;
using Xent.Cli.Npy;
using Xent.Tests.Cli;

namespace Xent.Fuzz;

/// <summary>
/// The .npy reader under AFL++ (through SharpFuzz), or over a directory of files with <c>--replay</c>. The oracle is
/// the one of tests/Xent.Tests/Cli/NpyFuzzTests.cs: any bytes either load into a consistent array that writes and
/// reads back identically, through a byte span, a seekable stream and a pipe alike, or fail with a one-line
/// <see cref="NpyFormatException"/>; anything else (another exception, a hang, a crash) is a finding.
/// </summary>
internal static class Program
{
    private const string Name = "fuzz.npy";

    private static int Main(string[] args)
    {
        if (args is ["--replay", .. var paths])
        {
            return Replay(paths);
        }

        if (args.Length != 0)
        {
            Console.Error.WriteLine("usage: Xent.Fuzz                  (under afl-fuzz: reads each input from stdin)");
            Console.Error.WriteLine("       Xent.Fuzz --replay PATH... (runs the oracle on files and directories, e.g. a corpus or afl's crashes)");
            return 2;
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            Check(buffer.ToArray());
        });
        return 0;
    }

    private static int Replay(string[] paths)
    {
        int files = 0, loaded = 0, failed = 0;
        foreach (string path in paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p]))
        {
            files++;
            try
            {
                loaded += Check(File.ReadAllBytes(path)) ? 1 : 0;
            }
            catch (Exception e)
            {
                failed++;
                Console.Error.WriteLine($"{path}: {e.GetType().Name}: {e.Message}");
            }
        }

        Console.WriteLine($"{files} files: {loaded} loaded, {files - loaded - failed} rejected with a format error, {failed} findings");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>Throws <see cref="FuzzFinding"/> (or lets any unexpected exception escape) when the oracle fails.</summary>
    private static bool Check(byte[] file)
    {
        NpyArray? array = Load(() => NpyReader.Parse(file, Name));
        if (array is not null)
        {
            Require(array.Count == array.Shape.Aggregate(1L, (a, b) => a * b), "the count is not the product of the shape");
            Require(array.Count * array.ItemSize == array.Data.LongLength, "the data length is not count × item size");
            var copy = new MemoryStream();
            NpyWriter.Write(copy, array);
            NpyArray again = NpyReader.Parse(copy.ToArray(), Name);
            Require(Same(array, again), "writing and reading back changed the array");
        }

        foreach (Stream stream in new Stream[] { new MemoryStream(file, writable: false), new NpyTestFiles.PipeStream(file) })
        {
            NpyArray? streamed = Load(() => NpyReader.Read(stream, Name));
            Require((streamed is null) == (array is null), $"{stream.GetType().Name} and the span disagree on whether the file loads");
            Require(streamed is null || Same(array!, streamed), $"{stream.GetType().Name} loaded a different array");
        }

        return array is not null;
    }

    private static NpyArray? Load(Func<NpyArray> read)
    {
        try
        {
            return read();
        }
        catch (NpyFormatException e)
        {
            Require(e.Message.StartsWith(Name + ": ", StringComparison.Ordinal) && e.Message.Length > Name.Length + 2,
                "the message does not name the file and a reason: " + e.Message);
            Require(!e.Message.Contains('\n') && !e.Message.Contains('\r') && e.Message.Length <= 400,
                "the message is not one short line: " + e.Message);
            return null;
        }
    }

    private static bool Same(NpyArray a, NpyArray b) =>
        a.DType == b.DType && a.Shape.AsSpan().SequenceEqual(b.Shape) && a.Data.AsSpan().SequenceEqual(b.Data);

    private static void Require(bool condition, string what)
    {
        if (!condition)
        {
            throw new FuzzFinding(what);
        }
    }

    private sealed class FuzzFinding(string message) : Exception(message);
}
