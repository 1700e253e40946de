using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Xent.Cli;
using Xent.Cli.Npy;

namespace Xent.Tests.Cli;

/// <summary><c>xent eval</c> run in-process on files written here: its mean must be the cross-entropy command's, its
/// counts must not depend on the chunk size, and bad files must give one error line and no report.</summary>
public sealed class EvalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("xent-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static float[] Logits(int count, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 8 - 4))];
    }

    private static long[] Targets(int count, int classes, int seed, int ignoreEvery = 9)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i => i % ignoreEvery == 3 ? -100L : rng.Next(classes))];
    }

    /// <summary>Writes (N, C, d...) float32 logits and matching int64 targets; returns their paths.</summary>
    private (string Logits, string Targets) WriteCase(long[] shape, int seed, string stem = "case")
    {
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        long[] targetShape = [shape[0], .. shape[2..]];
        int positions = (int)targetShape.Aggregate(1L, (a, b) => a * b);
        string x = P(stem + "-logits.npy"), t = P(stem + "-targets.npy");
        NpyWriter.Write<float>(x, Logits(count, seed), shape);
        NpyWriter.Write<long>(t, Targets(positions, (int)shape[1], seed + 1), targetShape);
        return (x, t);
    }

    private static string CrossEntropyMean((int Exit, string Out, string Err) r)
    {
        Assert.True(r.Exit == 0, r.Err);
        string line = r.Out.Split('\n').Single(l => l.Contains("loss [] = "));
        return line[(line.IndexOf("= ", StringComparison.Ordinal) + 2)..].Trim();
    }

    private static string EvalMean((int Exit, string Out, string Err) r)
    {
        Assert.True(r.Exit == 0, r.Err);
        string line = r.Out.Split('\n').Single(l => l.TrimStart().StartsWith("mean loss", StringComparison.Ordinal));
        return line.Trim()["mean loss".Length..].Trim();
    }

    [Theory]
    [InlineData("f4", new long[] { 1003, 17 }, false, 0.0)]
    [InlineData("f4", new long[] { 1003, 17 }, true, 0.1)]
    [InlineData("f4", new long[] { 37, 5, 3, 4 }, true, 0.0)]
    [InlineData("f8", new long[] { 250, 33 }, true, 0.2)]
    [InlineData("f2", new long[] { 300, 11 }, true, 0.05)]
    public void MeanEqualsTheCrossEntropyCommand(string dtype, long[] shape, bool weighted, double smoothing)
    {
        (string x, string t) = WriteCase(shape, 5);
        if (dtype != "f4")
        {
            float[] values = NpyReader.Read(x).AsSpan<float>().ToArray();
            if (dtype == "f8") NpyWriter.Write<double>(x, Array.ConvertAll(values, v => (double)v), shape);
            else NpyWriter.Write<Half>(x, Array.ConvertAll(values, v => (Half)v), shape);
        }

        var options = new List<string> { "--label-smoothing", smoothing.ToString(CultureInfo.InvariantCulture) };
        if (weighted)
        {
            NpyWriter.Write<float>(P("w.npy"), [.. Enumerable.Range(0, (int)shape[1]).Select(c => 0.25f + (c % 4) * 0.5f)], [shape[1]]);
            options.AddRange(["--weight", P("w.npy")]);
        }

        string expected = CrossEntropyMean(Run(["cross-entropy", x, t, .. options]));
        string actual = EvalMean(Run(["eval", x, t, .. options, "--chunk-rows", "7"]));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void JsonMeanIsTheLibrarysFloatMeanAndCountsAreRight()
    {
        (string x, string t) = WriteCase([1003, 17], 8);
        float[] logits = NpyReader.Read(x).AsSpan<float>().ToArray();
        long[] targets = NpyReader.Read(t).AsSpan<long>().ToArray();
        float libraryMean = Functional.CrossEntropy(logits, 17, targets, default);

        var r = Run("eval", x, t, "--json");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(1, r.Out.Count(ch => ch == '\n'));
        using JsonDocument json = JsonDocument.Parse(r.Out);
        JsonElement root = json.RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.Equal(libraryMean, (float)root.GetProperty("mean_loss").GetDouble());
        Assert.Equal(Math.Exp(root.GetProperty("loss_sum").GetDouble() / root.GetProperty("total_weight").GetDouble()),
            root.GetProperty("perplexity").GetDouble(), 12);
        int ignored = targets.Count(v => v == -100);
        Assert.Equal(1003, root.GetProperty("positions").GetInt64());
        Assert.Equal(ignored, root.GetProperty("ignored").GetInt64());
        Assert.Equal(1003 - ignored, root.GetProperty("evaluated").GetInt64());
        Assert.Equal(10, root.GetProperty("worst_classes").GetArrayLength());

        // Top-1 by a plain argmax here.
        int hits = 0;
        for (int n = 0; n < 1003; n++)
        {
            if (targets[n] == -100) continue;
            int best = 0;
            for (int c = 1; c < 17; c++) if (logits[n * 17 + c] > logits[n * 17 + best]) best = c;
            hits += best == targets[n] ? 1 : 0;
        }

        Assert.Equal(hits, root.GetProperty("top1_correct").GetInt64());
    }

    [Fact]
    public void AccuracyOnAHandMadeCase()
    {
        // Six classes. Row 0: target 2 is the maximum (top-1). Row 1: target 0 is third (top-5 only). Row 2: target 5
        // is last (neither). Row 3: ignored. Row 4: target 4 ties the maximum with class 1, which comes first (top-5 only).
        float[] x =
        [
            0f, 1f, 5f, 2f, 3f, 4f,
            3f, 5f, 4f, 1f, 2f, 0f,
            5f, 4f, 3f, 2f, 1f, 0f,
            9f, 9f, 9f, 9f, 9f, 9f,
            0f, 7f, 1f, 2f, 7f, 3f,
        ];
        long[] t = [2, 0, 5, 255, 4];
        NpyWriter.Write<float>(P("x.npy"), x, [5, 6]);
        NpyWriter.Write<long>(P("t.npy"), t, [5]);

        var r = Run("eval", P("x.npy"), P("t.npy"), "--ignore-index", "255", "--json", "--top-classes", "6");
        Assert.True(r.Exit == 0, r.Err);
        using JsonDocument json = JsonDocument.Parse(r.Out);
        JsonElement root = json.RootElement;
        Assert.Equal(1, root.GetProperty("ignored").GetInt64());
        Assert.Equal(4, root.GetProperty("evaluated").GetInt64());
        Assert.Equal(1, root.GetProperty("top1_correct").GetInt64());
        Assert.Equal(3, root.GetProperty("top5_correct").GetInt64());
        Assert.Equal(0.25, root.GetProperty("top1_accuracy").GetDouble());
        Assert.Equal(0.75, root.GetProperty("top5_accuracy").GetDouble());

        // Per class: four classes have support, worst first. Class 5 (last of six) has the largest loss.
        JsonElement[] classes = [.. root.GetProperty("worst_classes").EnumerateArray()];
        Assert.Equal([5L, 0L, 4L, 2L], classes.Select(c => (long)c.GetProperty("class").GetInt32()));
        Assert.All(classes, c => Assert.Equal(1, c.GetProperty("support").GetInt64()));
        Assert.Equal([0.0, 0.0, 0.0, 1.0], classes.Select(c => c.GetProperty("accuracy").GetDouble()));
        double lse = Math.Log(Enumerable.Range(0, 6).Sum(k => Math.Exp(5 - k)));
        Assert.Equal(lse - 0, classes[0].GetProperty("mean_loss").GetDouble(), 5);

        string text = Run("eval", P("x.npy"), P("t.npy"), "--ignore-index", "255").Out;
        Assert.Contains("top-1 accuracy  0.2500 (1 / 4)", text);
        Assert.Contains("top-5 accuracy  0.7500 (3 / 4)", text);
        Assert.Contains("positions       5 (4 evaluated, 1 ignored)", text);
    }

    [Fact]
    public void ChunkBoundariesDoNotChangeAnything()
    {
        (string x, string t) = WriteCase([1003, 13], 21);
        (string xs, string ts) = WriteCase([101, 6, 3, 5], 22, "spatial");
        string[] sizes = ["1", "7", "64", "1000", "1003", "5000"];
        foreach ((string logits, string targets) in new[] { (x, t), (xs, ts) })
        {
            string baseline = Run("eval", logits, targets, "--json", "--top-classes", "100").Out;
            Assert.StartsWith("{", baseline);
            foreach (string rows in sizes)
            {
                var r = Run("eval", logits, targets, "--json", "--top-classes", "100", "--chunk-rows", rows);
                Assert.True(r.Exit == 0, r.Err);
                Assert.Equal(baseline, r.Out);
            }
        }
    }

    [Fact]
    public void SafetensorsGiveTheSameResultsAsNpy()
    {
        (string x, string t) = WriteCase([211, 9], 30);
        float[] logits = NpyReader.Read(x).AsSpan<float>().ToArray();
        long[] targets = NpyReader.Read(t).AsSpan<long>().ToArray();
        string st = P("model out.safetensors");
        WriteSafetensors(st, ("labels", "I64", [211], Bytes(targets)), ("eval:logits", "F32", [211, 9], Bytes(logits)));

        string fromNpy = Run("eval", x, t, "--json").Out;
        var r = Run("eval", st + ":eval:logits", st + ":labels", "--json");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(Without(fromNpy, "logits", "targets"), Without(r.Out, "logits", "targets"));

        // A file holding one tensor needs no name.
        WriteSafetensors(P("only.safetensors"), ("t", "I32", [211], Bytes(Array.ConvertAll(targets, v => (int)v))));
        r = Run("eval", x, P("only.safetensors"), "--json");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(Without(fromNpy, "logits", "targets", "targets_dtype"), Without(r.Out, "logits", "targets", "targets_dtype"));
    }

    [Fact]
    public void BFloat16SafetensorsMatchTheLibrary()
    {
        float[] logits = Logits(64 * 10, 40);
        long[] targets = Targets(64, 10, 41);
        BFloat16[] b = Array.ConvertAll(logits, v => (BFloat16)v);
        WriteSafetensors(P("bf.safetensors"), ("x", "BF16", [64, 10], Bytes(b)), ("t", "I64", [64], Bytes(targets)));
        var expected = new BFloat16[1];
        Functional.CrossEntropy<BFloat16, long>(b, [64, 10], targets, [64], expected);

        var r = Run("eval", P("bf.safetensors") + ":x", P("bf.safetensors") + ":t", "--json", "--chunk-rows", "5");
        Assert.True(r.Exit == 0, r.Err);
        using JsonDocument json = JsonDocument.Parse(r.Out);
        Assert.Equal((double)expected[0], json.RootElement.GetProperty("mean_loss").GetDouble());
        Assert.Equal("bfloat16", json.RootElement.GetProperty("logits_dtype").GetString());
    }

    public static TheoryData<string, byte[], string> MalformedSafetensors()
    {
        static byte[] File(string header, int dataBytes, ulong? lengthField = null) => SafetensorsTestFiles.Build(header, dataBytes, lengthField);

        const string ok = "\"dtype\":\"F32\",\"shape\":[2,3]";
        return new TheoryData<string, byte[], string>
        {
            { "too short", [1, 2, 3], "file is too short to be a .safetensors file (3 bytes)" },
            { "length past the end", File("{}", 0, 1000), "header is truncated: the length field says 1000 bytes, but only 2 follow" },
            { "length too large", File("{}", 0, 1UL << 40), "header length 1099511627776 is too large" },
            { "not an object", File("[1, 2]", 0), "the header is not a JSON object" },
            { "not JSON", File("{\"x\": ", 0), "the header is not valid JSON" },
            { "not UTF-8", [.. File("{\"x\":1}", 0).Take(9), 0xC3, 0x28, .. File("{\"x\":1}", 0).Skip(11)], "the header is not valid UTF-8 (byte 0xC3 at file offset 9)" },
            // Inside a name, where JsonDocument does not look: the string's read threw InvalidOperationException, a crash.
            { "not UTF-8 in a name", [.. File("{\"?x\": {" + ok + ",\"data_offsets\":[0,24]}}", 24).Take(10), 0x80, .. File("{\"?x\": {" + ok + ",\"data_offsets\":[0,24]}}", 24).Skip(11)],
                "the header is not valid UTF-8 (byte 0x80 at file offset 10)" },
            { "lone surrogate", File("{\"\\ud800\": {" + ok + ",\"data_offsets\":[0,24]}}", 24), "the header holds a string that is not valid Unicode" },
            { "control bytes quoted", File("{\"x\": n\u001b[2Jl}", 0), "is an invalid JSON literal" },
            { "entry not an object", File("{\"x\": 3}", 0), "tensor 'x': expected an object with dtype, shape and data_offsets, found a number" },
            { "missing offsets", File("{\"x\": {" + ok + "}}", 24), "tensor 'x': missing key 'data_offsets'" },
            { "negative dimension", File("{\"x\": {\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24), "tensor 'x': 'shape' must hold non-negative integers, found -3" },
            { "offsets reversed", File("{\"x\": {" + ok + ",\"data_offsets\":[24,0]}}", 24), "data_offsets [24, 0] end before they begin" },
            { "offsets past the data", File("{\"x\": {" + ok + ",\"data_offsets\":[0,24]}}", 20), "data_offsets [0, 24] run past the end of the data (20 bytes)" },
            { "size mismatch", File("{\"x\": {" + ok + ",\"data_offsets\":[0,20]}}", 24), "F32 [2, 3] needs 24 bytes, but data_offsets [0, 20] hold 20" },
            { "duplicate name", File("{\"x\": {" + ok + ",\"data_offsets\":[0,24]}, \"x\": {" + ok + ",\"data_offsets\":[0,24]}}", 24), "duplicate key 'x' in the header" },
            { "bad metadata", File("{\"__metadata__\": {\"a\": 1}, \"x\": {" + ok + ",\"data_offsets\":[0,24]}}", 24), "'__metadata__' must be an object of strings" },
            { "unsupported dtype", File("{\"x\": {\"dtype\":\"BOOL\",\"shape\":[2,3],\"data_offsets\":[0,6]}}", 6), "holds BOOL; eval reads F16, BF16, F32, F64 logits" },
            { "no such tensor", File("{\"y\": {" + ok + ",\"data_offsets\":[0,24]}}", 24), "has no tensor 'x' (it holds 'y')" },
            // The tensors must tile the data buffer, as the reference implementation's validate() requires.
            { "gap before", File("{\"x\": {" + ok + ",\"data_offsets\":[1,25]}}", 25), "tensor 'x': data_offsets [1, 25] leave a gap after byte 0" },
            { "overlap", File("{\"x\": {" + ok + ",\"data_offsets\":[0,24]}, \"y\": {" + ok + ",\"data_offsets\":[20,44]}}", 44), "tensor 'y': data_offsets [20, 44] overlap the bytes before 24" },
            { "trailing bytes", File("{\"x\": {" + ok + ",\"data_offsets\":[0,24]}}", 28), "the tensors end at byte 24 of the 28-byte data buffer" },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedSafetensors))]
    public void MalformedSafetensorsGiveOneErrorLineAndNoReport(string what, byte[] bytes, string message)
    {
        _ = what;
        File.WriteAllBytes(P("bad.safetensors"), bytes);
        NpyWriter.Write<long>(P("t.npy"), [0, 1], [2]);
        var r = Run("eval", P("bad.safetensors") + ":x", P("t.npy"), "--report", P("report.html"));
        Assert.Equal(ExitCodes.BadData, r.Exit);
        Assert.Equal("", r.Out);
        Assert.StartsWith("error: ", r.Err);
        Assert.Equal(1, r.Err.Count(c => c == '\n'));
        Assert.False(r.Err.TrimEnd('\n').Any(char.IsControl), "a control character reaches the terminal: " + r.Err);
        Assert.Contains(message, r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        Assert.False(File.Exists(P("report.html")));
        Assert.Equal(["bad.safetensors", "t.npy"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void BadInputsGiveOneErrorLineAndNoReport()
    {
        (string x, string t) = WriteCase([20, 4], 50);
        NpyWriter.Write<long>(P("oob.npy"), [.. Enumerable.Range(0, 20).Select(i => i == 13 ? 4L : 0L)], [20]);
        NpyWriter.Write<long>(P("short.npy"), new long[19], [19]);
        NpyWriter.Write<float>(P("float-t.npy"), new float[20], [20]);
        NpyWriter.Write<float>(P("w3.npy"), new float[3], [3]);
        NpyWriter.Write<float>(P("flat.npy"), new float[4], [4]);
        NpyWriter.Write<float>(P("w0.npy"), [], [0]);
        string report = P("r.html");
        (string[] Args, int Exit, string Message)[] cases =
        [
            (["eval", x, P("oob.npy")], ExitCodes.BadData, "error: Target 4 is out of bounds."),
            (["eval", x, P("short.npy")], ExitCodes.BadData, "error: targets of shape [19] do not fit logits of shape [20, 4]: expected [20]"),
            (["eval", x, P("float-t.npy")], ExitCodes.BadData, "error: targets must hold class indices"),
            (["eval", P("flat.npy"), P("short.npy")], ExitCodes.BadData, "error: logits must have shape (N, C) or (N, C, d1, ..., dK), got [4]"),
            (["eval", x, t, "--weight", P("w3.npy")], ExitCodes.BadData, "error: weight tensor should be defined either for all 4 classes or no classes but got weight tensor of shape: [3]"),
            (["eval", x, t, "--label-smoothing", "1.5"], ExitCodes.Usage, "error: --label-smoothing: label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
            (["eval", x, t, "--label-smoothing", "nan"], ExitCodes.Usage, "error: --label-smoothing: label_smoothing must be between 0.0 and 1.0. Got: NaN"),
            (["eval", x, P("missing.npy")], ExitCodes.BadData, "error: targets file"),
            (["eval", x, t, "--chunk-rows", "0"], ExitCodes.Usage, "error: --chunk-rows must be a whole number from 1 to 9223372036854775807, got '0'"),
            (["eval", x, t, "--chunk-rows", "abc"], ExitCodes.Usage, "error: --chunk-rows must be a whole number from 1 to 9223372036854775807, got 'abc'"),
            (["eval", x, t, "--top-classes", "-1"], ExitCodes.Usage, "error: --top-classes must be a whole number from 0 to 2147483647, got '-1'"),
            (["eval", x, t, "--top-classes", "1e3"], ExitCodes.Usage, "error: --top-classes must be a whole number from 0 to 2147483647, got '1e3'"),
            (["eval", x, t, "--ignore-index", "abc"], ExitCodes.Usage, "error: --ignore-index must be an integer from"),
            (["eval", x, t, "--report", P("no/such/dir/r.html")], ExitCodes.Usage, "error: --report '" + P("no/such/dir/r.html") + "': the output directory"),
            (["eval", x, t, "--report", _dir], ExitCodes.Usage, "is a directory"),
            (["eval", x, t, "--report", ""], ExitCodes.Usage, "error: --report needs a file name, got an empty string"),
            (["eval", x, t, "--report", "/dev/null"], ExitCodes.Usage, "error: --report '/dev/null' is a device or system file"),
            (["eval", x, t, "--report", x], ExitCodes.Usage, "error: --report names the LOGITS file '" + x + "', which would be overwritten"),
            (["eval", x, t, "--report", t], ExitCodes.Usage, "error: --report names the TARGETS file"),
            (["eval", x, t, "--weight", P("w0.npy")], ExitCodes.BadData, "error: weight tensor should be defined either for all 4 classes or no classes but got weight tensor of shape: [0]"),
            (["eval", x, t, "--weight", _dir], ExitCodes.BadData, "error: weight '" + _dir + "' is a directory, not a file"),
        ];
        foreach ((string[] args, int exit, string message) in cases)
        {
            var r = Run([.. args, .. args.Contains("--report") ? Array.Empty<string>() : ["--report", report]]);
            Assert.True(exit == r.Exit, $"{string.Join(' ', args)}: exit {r.Exit}, {r.Err}");
            Assert.Contains(message, r.Err);
            Assert.Equal(1, r.Err.Count(c => c == '\n'));
            Assert.False(File.Exists(report), string.Join(' ', args));
            Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
        }
    }

    [Fact]
    public void BigEndianAndFortranOrderNpyAreRefused()
    {
        NpyWriter.Write<long>(P("t.npy"), [0, 1], [2]);
        byte[] bytes = File.ReadAllBytes(P("t.npy"));
        string text = Encoding.Latin1.GetString(bytes);
        File.WriteAllBytes(P("be.npy"), Encoding.Latin1.GetBytes(text.Replace("'<i8'", "'>i8'")));
        NpyWriter.Write<float>(P("x.npy"), new float[6], [2, 3]);
        text = Encoding.Latin1.GetString(File.ReadAllBytes(P("x.npy")));
        File.WriteAllBytes(P("f.npy"), Encoding.Latin1.GetBytes(text.Replace("'fortran_order': False", "'fortran_order': True ")));

        var r = Run("eval", P("x.npy"), P("be.npy"));
        Assert.Equal(ExitCodes.BadData, r.Exit);
        Assert.Contains("is big-endian", r.Err);
        r = Run("eval", P("f.npy"), P("t.npy"));
        Assert.Equal(ExitCodes.BadData, r.Exit);
        Assert.Contains("is in Fortran order", r.Err);
    }

    [Fact]
    public void ReportIsWellFormedSelfContainedHtml()
    {
        (string x, string t) = WriteCase([500, 12], 60, "a&b");
        string report = P("report.html");
        var r = Run("eval", x, t, "--report", report, "--top-classes", "4");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("mean loss", r.Out);
        Assert.Equal(["a&b-logits.npy", "a&b-targets.npy", "report.html"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());

        string html = File.ReadAllText(report);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", string.Empty));
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html);

        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        XDocument doc = XDocument.Load(reader);
        XNamespace svg = "http://www.w3.org/2000/svg";
        XElement[] charts = [.. doc.Descendants(svg + "svg")];
        Assert.Equal(2, charts.Length);

        // The histogram's bars count every evaluated position exactly once.
        long evaluated = NpyReader.Read(t).AsSpan<long>().ToArray().Count(v => v != -100);
        long binned = charts[0].Elements(svg + "rect").Sum(rect => long.Parse(rect.Element(svg + "title")!.Value.Split(": ")[1], CultureInfo.InvariantCulture));
        Assert.Equal(evaluated, binned);
        Assert.Equal(4, charts[1].Elements(svg + "rect").Count());
        Assert.Contains("a&b-logits.npy", doc.Descendants("title").First().Value);
    }

    private static byte[] Bytes<T>(T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static void WriteSafetensors(string path, params (string Name, string DType, long[] Shape, byte[] Data)[] tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach ((string name, string dtype, long[] shape, byte[] data) in tensors)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { offset, offset + data.Length } };
            offset += data.Length;
        }

        header["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        file.Write(length);
        file.Write(json);
        file.Write(Enumerable.Repeat((byte)' ', padded - json.Length).ToArray());
        foreach ((_, _, _, byte[] data) in tensors)
        {
            file.Write(data);
        }
    }

    /// <summary>The JSON output without some properties, to compare runs that differ only there.</summary>
    private static string Without(string json, params string[] names)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        return JsonSerializer.Serialize(doc.RootElement.EnumerateObject().Where(p => !names.Contains(p.Name)).ToDictionary(p => p.Name, p => p.Value));
    }
}
