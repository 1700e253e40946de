using System.Text;
using Xent.Cli;
using static Xent.Tests.Cli.NpyTestFiles;

namespace Xent.Tests.Cli;

/// <summary>
/// The whole command line on corrupted files: <c>xent cross-entropy</c>, <c>nll</c> and <c>eval</c> (which maps its
/// inputs in place and reads them in chunks) run in-process on seeded random mutations of small valid .npy and
/// .safetensors files. Each run must succeed, or fail with one error line (no control characters, no exception
/// name) and exit code 1 or 2, leaving no output file behind; <see cref="Program.Run"/> itself never throws.
/// </summary>
public sealed class CliFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("xent-clifuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static readonly string[] Descrs = ["<f4", "<f8", "<f2", "<i8", "<i4", "|u1", ">f4", "|b1", "<c8", "<u2", "<V4", "<f4 "];

    private static readonly string[] Shapes = ["(6, 4)", "(6,)", "(4,)", "()", "(0, 4)", "(6, 4, 1)", "(3, 4, 2)", "(3, 2)", "(6, 0)", "(24,)", "(1, 6, 4)", "(2, 4, 3)"];

    [Fact]
    public void CorruptedInputsGiveOneErrorLineOrAResult()
    {
        const int Seed = 20_261_125;
        const int Iterations = 3000;
        var random = new Random(Seed);
        float[] logits = [.. Enumerable.Range(0, 24).Select(i => MathF.Sin(i) * 3)];
        byte[] x = Build("<f4", "(6, 4)", Bytes(logits));
        byte[] t = Build("<i8", "(6,)", Bytes(0L, 3L, -100L, 1L, 2L, 3L));
        byte[] t8 = Build("|u1", "(6,)", Bytes<byte>(0, 3, 255, 1, 2, 3));
        byte[] w = Build("<f4", "(4,)", Bytes(1f, 0.5f, 2f, 1f));
        byte[] st = Safetensors(("logits", "F32", [6, 4], Bytes(logits)), ("t", "I64", [6], Bytes(0L, 3L, -100L, 1L, 2L, 3L)));
        int succeeded = 0;
        var log = new List<string>();
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            log.Clear();
            int command = random.Next(4);
            string[] args;
            string[] outputs = [P("out.npy"), P("grad.npy"), P("report.html"), P("logp.npy")];
            switch (command)
            {
                case 0:
                    WriteMutated("x.npy", x, random, log);
                    WriteMutated("t.npy", random.Next(2) == 0 ? t : t8, random, log);
                    WriteMutated("w.npy", w, random, log);
                    args = ["cross-entropy", P("x.npy"), P("t.npy"), "--weight", P("w.npy"), "--ignore-index", random.Next(2) == 0 ? "-100" : "255",
                        "--label-smoothing", "0.1", "--out", outputs[0], "--grad", outputs[1], "--reduction", random.Next(2) == 0 ? "none" : "mean",
                        .. random.Next(3) == 0 ? new[] { "--log-prob", outputs[3] } : []];
                    break;
                case 1:
                    WriteMutated("x.npy", x, random, log);
                    WriteMutated("t.npy", t, random, log);
                    args = ["nll", P("x.npy"), P("t.npy"), "--out", outputs[0], "--grad", outputs[1]];
                    break;
                case 2:
                    WriteMutated("x.npy", x, random, log);
                    WriteMutated("t.npy", random.Next(2) == 0 ? t : t8, random, log);
                    WriteMutated("w.npy", w, random, log);
                    args = ["eval", P("x.npy"), P("t.npy"), "--chunk-rows", (1 + random.Next(7)).ToString(), "--report", outputs[2],
                        .. random.Next(2) == 0 ? new[] { "--weight", P("w.npy") } : [],
                        .. random.Next(2) == 0 ? new[] { "--label-smoothing", "0.2", "--ignore-index", "255" } : [],
                        .. random.Next(2) == 0 ? new[] { "--top-classes", random.Next(0, 6).ToString() } : []];
                    break;
                default:
                    WriteMutated("m.safetensors", st, random, log);
                    args = ["eval", P("m.safetensors") + ":logits", P("m.safetensors") + ":t", "--chunk-rows", (1 + random.Next(7)).ToString(), "--report", outputs[2], "--json"];
                    break;
            }

            var (stdout, stderr) = (new StringWriter(), new StringWriter());
            int exit;
            try
            {
                exit = Program.Run(args, stdout, stderr);
            }
            catch (Exception e)
            {
                Assert.Fail($"Seed {Seed}, iteration {iteration}, {args[0]} [{string.Join("; ", log)}]: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                return;
            }

            string err = stderr.ToString();
            string context = $"Seed {Seed}, iteration {iteration}, {args[0]} [{string.Join("; ", log)}]: exit {exit}, stderr {err}";
            if (exit == 0)
            {
                succeeded++;
                Assert.True(err.Length == 0, context);
            }
            else
            {
                Assert.True(exit is ExitCodes.BadData or ExitCodes.Usage, context);
                Assert.StartsWith("error: ", err);
                Assert.True(err.EndsWith('\n') && err.Count(c => c == '\n') == 1, context);
                Assert.False(err.TrimEnd('\n').Any(char.IsControl), context);
                Assert.DoesNotContain("Exception", err);
                Assert.All(outputs, o => Assert.False(File.Exists(o), context + ": " + o + " was written"));
            }

            foreach (string o in outputs)
            {
                File.Delete(o);
            }
        }

        // The mutations are neither all fatal nor all harmless.
        Assert.InRange(succeeded, Iterations / 50, Iterations * 9 / 10);
    }

    /// <summary>Writes <paramref name="file"/> under <paramref name="name"/>, mutated half of the time.</summary>
    private void WriteMutated(string name, byte[] file, Random random, List<string> log)
    {
        byte[] bytes = file;
        if (random.Next(2) == 0)
        {
            bytes = name.EndsWith(".npy", StringComparison.Ordinal) ? MutateNpy(file, random, out string what) : MutateAny(file, random, out what);
            log.Add($"{name}: {what}");
        }

        File.WriteAllBytes(P(name), bytes);
    }

    private static byte[] MutateNpy(byte[] file, Random random, out string what)
    {
        switch (random.Next(4))
        {
            case 0:
                // Another dtype or shape in an otherwise well-formed header, over the same data.
                string text = Encoding.ASCII.GetString(file);
                int headerEnd = text.IndexOf('\n');
                string dict = text[10..headerEnd];
                string descr = Descrs[random.Next(Descrs.Length)], shape = Shapes[random.Next(Shapes.Length)];
                dict = System.Text.RegularExpressions.Regex.Replace(dict, "'descr': '[^']*'", $"'descr': '{descr}'");
                dict = System.Text.RegularExpressions.Regex.Replace(dict, "'shape': \\([^)]*\\)", $"'shape': {shape}");
                what = $"descr {descr} shape {shape}";
                return Build(dict.Trim(), file.AsSpan(headerEnd + 1));
            default:
                return MutateAny(file, random, out what);
        }
    }

    private static byte[] MutateAny(byte[] file, Random random, out string what)
    {
        int at = random.Next(file.Length);
        switch (random.Next(4))
        {
            case 0:
                byte[] result = (byte[])file.Clone();
                result[at] = (byte)random.Next(256);
                what = $"byte {at} = {result[at]}";
                return result;
            case 1:
                what = $"truncated to {at}";
                return file[..at];
            case 2:
                what = $"{1 + at % 9} bytes appended";
                return [.. file, .. new byte[1 + at % 9]];
            default:
                // A digit in the header changed: shapes, offsets and lengths that disagree with the data.
                byte[] changed = (byte[])file.Clone();
                int digit = Array.FindIndex(changed, at, b => b is >= (byte)'0' and <= (byte)'9');
                if (digit >= 0)
                {
                    changed[digit] = (byte)('0' + random.Next(10));
                }

                what = $"digit at {digit}";
                return changed;
        }
    }

    private static byte[] Safetensors(params (string Name, string DType, long[] Shape, byte[] Data)[] tensors)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        foreach (var (name, dtype, shape, data) in tensors)
        {
            header.Append($"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(',', shape)}],\"data_offsets\":[{offset},{offset + data.Length}]}},");
            offset += data.Length;
        }

        byte[] file = SafetensorsTestFiles.Build(header.ToString().TrimEnd(',') + "}", (int)offset);
        tensors.SelectMany(t => t.Data).ToArray().CopyTo(file, file.Length - offset);
        return file;
    }
}
