using System.Runtime.Versioning;
using Xent.Cli;
using Xent.Cli.Npy;

namespace Xent.Tests.Cli;

/// <summary>
/// Every way the <c>xent</c> command can fail, run in-process through <see cref="Program.Run"/> on files in a fresh temp
/// directory. Each failure must print exactly one line on stderr, <c>error: </c> and a message that names the problem
/// and the offending value, with no exception type and no stack trace; exit with 2 for a usage error (a command, an
/// option, an argument, an output path) or 1 for bad data (an input file and what it holds); and leave the directory
/// exactly as it was: no output file, no temporary file.
/// </summary>
public sealed class CliFailureTests : IDisposable
{
    private const int BadData = 1;
    private const int Usage = 2;

    private readonly string _dir = Directory.CreateTempSubdirectory("xent-fail-").FullName;

    public CliFailureTests()
    {
        // A valid (3, 5) float32 problem, so each test changes one thing.
        Npy("x.npy", Enumerable.Range(0, 15).Select(i => MathF.Sin(i)).ToArray(), 3, 5);
        Npy("t.npy", new long[] { 1, 4, 3 }, 3);
        Npy("w.npy", new float[] { 1, 2, 3, 4, 5 }, 5);
        Npy("p.npy", Enumerable.Repeat(0.2f, 15).ToArray(), 3, 5);
    }

    public void Dispose()
    {
        foreach (string path in Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        Directory.Delete(_dir, recursive: true);
    }

    private string P(string name) => Path.Combine(_dir, name);

    private string Npy<T>(string name, T[] data, params long[] shape) where T : unmanaged
    {
        NpyWriter.Write<T>(P(name), data, shape);
        return P(name);
    }

    private string Bytes(string name, byte[] bytes)
    {
        File.WriteAllBytes(P(name), bytes);
        return P(name);
    }

    private static (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private string[] Snapshot() =>
        [.. Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(_dir, p)).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Runs <paramref name="args"/> with <c>--out</c> and <c>--grad</c> into the temp directory appended (unless
    /// <paramref name="withOutputs"/> is false) and asserts the failure contract: the exit code, one <c>error:</c> line
    /// holding every fragment of <paramref name="message"/>, no exception text, nothing added to or removed from the
    /// directory.
    /// </summary>
    private void Fails(int exit, string[] message, string[] args, bool withOutputs = true)
    {
        string[] before = Snapshot();
        string[] argv = withOutputs ? [.. args, "--out", P("loss.npy"), "--grad", P("grad.npy")] : args;
        (int code, string stdout, string stderr) = Run(argv);

        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got {lines.Length}:\n{stderr}");
        string line = lines[0].TrimEnd('\r');
        Assert.StartsWith("error: ", line);
        foreach (string fragment in message)
        {
            Assert.Contains(fragment, line);
        }

        Assert.DoesNotContain("Exception", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("   at ", stdout);
        Assert.True(code == exit, $"exit {code}, expected {exit}: {line}");
        Assert.Equal(before, Snapshot());
    }

    private void FailsData(string[] message, params string[] args) => Fails(BadData, message, args);

    private void FailsUsage(string[] message, params string[] args) => Fails(Usage, message, args);

    // ---- Input files ----

    [Theory]
    [InlineData("input")]
    [InlineData("target")]
    [InlineData("weight")]
    public void MissingFile(string which)
    {
        string missing = P("nope.npy");
        string[] args = which switch
        {
            "input" => ["nll", missing, P("t.npy")],
            "target" => ["nll", P("x.npy"), missing],
            _ => ["nll", P("x.npy"), P("t.npy"), "--weight", missing],
        };
        FailsData([$"{which} file '{missing}' does not exist"], args);
    }

    [Theory]
    [InlineData("input")]
    [InlineData("target")]
    [InlineData("weight")]
    public void DirectoryGivenAsAFile(string which)
    {
        string sub = Directory.CreateDirectory(P("sub.npy")).FullName;
        string[] args = which switch
        {
            "input" => ["cross-entropy", sub, P("t.npy")],
            "target" => ["cross-entropy", P("x.npy"), sub],
            _ => ["cross-entropy", P("x.npy"), P("t.npy"), "--weight", sub],
        };
        FailsData([$"{which} '{sub}' is a directory"], args);
    }

    [PermissionsFact]
    [UnsupportedOSPlatform("windows")]
    public void UnreadableFile()
    {
        File.SetUnixFileMode(P("t.npy"), UnixFileMode.None);
        FailsData([$"target file '{P("t.npy")}' cannot be read (permission denied)"], "nll", P("x.npy"), P("t.npy"));
    }

    [PermissionsFact]
    [UnsupportedOSPlatform("windows")]
    public void UnwritableOutputDirectory_WritesNeitherOutput()
    {
        // --out is fine, --grad's directory refuses new files: the check up front passes (the directory exists), the
        // temporary file for --grad fails, and --out, written first, must not have been renamed into place.
        string locked = Directory.CreateDirectory(P("locked")).FullName;
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        Fails(BadData, [$"cannot write '{Path.Combine(locked, "grad.npy")}' (permission denied)"],
            ["nll", P("x.npy"), P("t.npy"), "--out", P("loss.npy"), "--grad", Path.Combine(locked, "grad.npy")], withOutputs: false);
    }

    // ---- Output paths: checked before anything is read or computed ----

    [Theory]
    [InlineData("--out")]
    [InlineData("--grad")]
    [InlineData("--log-prob")]
    public void OutputDirectoryMissing_NothingWritten(string option)
    {
        // The other outputs are fine; the one in a missing directory stops them all before any computation.
        string bad = Path.Combine(_dir, "no-such-dir", "o.npy");
        var args = new List<string> { "cross-entropy", P("x.npy"), P("t.npy") };
        foreach (string o in new[] { "--out", "--grad", "--log-prob" })
        {
            args.AddRange([o, o == option ? bad : P(o.TrimStart('-') + ".npy")]);
        }

        Fails(Usage, [option, $"the output directory '{Path.Combine(_dir, "no-such-dir")}' does not exist"], [.. args], withOutputs: false);
    }

    [Fact]
    public void OutputPathIsADirectory()
    {
        string sub = Directory.CreateDirectory(P("out.npy")).FullName;
        Fails(Usage, [$"--grad '{sub}' is a directory"],
            ["nll", P("x.npy"), P("t.npy"), "--out", P("loss.npy"), "--grad", sub], withOutputs: false);
    }

    [Fact]
    public void OutputPathIsEmpty()
    {
        Fails(Usage, ["--out needs a file name, got an empty string"], ["nll", P("x.npy"), P("t.npy"), "--out", ""], withOutputs: false);
    }

    [Fact]
    public void TwoOutputsNameOneFile()
    {
        Fails(Usage, ["--out and --log-prob name the same file", "same.npy"],
            ["cross-entropy", P("x.npy"), P("t.npy"), "--out", P("same.npy"), "--log-prob", Path.Combine(_dir, ".", "same.npy")],
            withOutputs: false);
    }

    [Theory]
    [InlineData("--out", "INPUT", "x.npy")]
    [InlineData("--grad", "TARGET", "t.npy")]
    [InlineData("--log-prob", "--weight", "w.npy")]
    public void OutputNamesAnInput_NothingWritten(string option, string what, string input)
    {
        // The input would be replaced by the output: found up front, the file left as it was.
        byte[] before = File.ReadAllBytes(P(input));
        Fails(Usage, [$"{option} names the {what} file '{P(input)}', which would be overwritten"],
            ["cross-entropy", P("x.npy"), P("t.npy"), "--weight", P("w.npy"), option, P(input)], withOutputs: false);
        Assert.Equal(before, File.ReadAllBytes(P(input)));
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void OutputNamesAnInputThroughALink_NothingWritten()
    {
        File.CreateSymbolicLink(P("link.npy"), P("x.npy"));
        Fails(Usage, [$"--grad names the INPUT file '{P("x.npy")}'"],
            ["nll", P("x.npy"), P("t.npy"), "--grad", P("link.npy")], withOutputs: false);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void OutputThroughALink_ReplacesTheFileItNames()
    {
        // The link stays a link; the file it names gets the new contents.
        Directory.CreateDirectory(P("real"));
        File.WriteAllText(P("real/loss.npy"), "old");
        File.CreateSymbolicLink(P("loss-link.npy"), P("real/loss.npy"));
        (int exit, _, string stderr) = Run("nll", P("x.npy"), P("t.npy"), "--out", P("loss-link.npy"));
        Assert.True(exit == 0, stderr);
        Assert.Equal(P("real/loss.npy"), new FileInfo(P("loss-link.npy")).LinkTarget);
        Assert.Equal(NpyReader.Read(P("real/loss.npy")).Shape, Array.Empty<long>());
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("/dev/null")]
    [InlineData("/dev/stdout")]
    [InlineData("/proc/self/comm")]
    [UnsupportedOSPlatform("windows")]
    public void OutputIsADeviceOrSystemFile(string path)
    {
        // Renamed over, /dev/null would become a plain file (as root); refused before anything is computed.
        Fails(Usage, [$"--out '{path}' is a device or system file"], ["nll", P("x.npy"), P("t.npy"), "--out", path], withOutputs: false);
    }

    [Fact]
    public void EmptyWeightFile_IsPyTorchsError()
    {
        // An empty weight span alone reads as "no weight"; a weight file of shape (0) was given, and is an error, as
        // PyTorch's weight=torch.tensor([]) is, in the message of the PyTorch check that meets it.
        Npy("w0.npy", Array.Empty<float>(), 0);
        FailsData(["weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [0]"],
            "cross-entropy", P("x.npy"), P("t.npy"), "--weight", P("w0.npy"));
        FailsData(["weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [0]"],
            "nll", P("x.npy"), P("t.npy"), "--weight", P("w0.npy"));
        FailsData(["cross_entropy: weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [0]"],
            "cross-entropy", P("x.npy"), P("p.npy"), "--weight", P("w0.npy"));
        Npy("x3.npy", Enumerable.Range(0, 15).Select(i => MathF.Sin(i)).ToArray(), 1, 5, 3);
        Npy("t3.npy", new long[] { 1, 4, 3 }, 1, 3);
        FailsData(["weight tensor should be defined either for all or no classes (got weight tensor of shape: [0] for 5 classes)"],
            "cross-entropy", P("x3.npy"), P("t3.npy"), "--weight", P("w0.npy"));

        // PyTorch's earlier checks come first.
        Npy("t2.npy", new long[] { 1, 4 }, 2);
        FailsData(["Expected input batch_size (3) to match target batch_size (2)."],
            "cross-entropy", P("x.npy"), P("t2.npy"), "--weight", P("w0.npy"));
    }

    [Fact]
    public void StandardOutputFails_NoOutputWritten()
    {
        // The summary is printed before the outputs are renamed into place: when stdout cannot be written, the run
        // fails with one line and leaves no output and no temporary file.
        string[] before = Snapshot();
        var stderr = new StringWriter();
        int exit = Program.Run(["nll", P("x.npy"), P("t.npy"), "--out", P("loss.npy"), "--grad", P("grad.npy")], new FailingWriter(), stderr);
        Assert.Equal(BadData, exit);
        Assert.Equal("error: cannot write to standard output (No space left on device)", stderr.ToString().TrimEnd());
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void StandardErrorFails_ExitCodeStillReturned()
    {
        Assert.Equal(BadData, Program.Run(["nll", P("nope.npy"), P("t.npy")], new StringWriter(), new FailingWriter()));
    }

    [Fact]
    public void AtSignIsPartOfAFileName_NotAResponseFile()
    {
        // System.CommandLine reads "@name" as a file of arguments unless told not to; xent takes it as a file name.
        File.Copy(P("x.npy"), P("@x.npy"));
        (int exit, string stdout, string stderr) = Run("nll", P("@x.npy"), P("t.npy"));
        Assert.True(exit == 0, stderr);
        Assert.Contains("nll: input [3, 5] float32", stdout);
        Fails(BadData, [$"input file '{P("@nope.npy")}' does not exist"], ["nll", P("@nope.npy"), P("t.npy")], withOutputs: false);
    }

    /// <summary>A writer on a full disk.</summary>
    private sealed class FailingWriter : StringWriter
    {
        public override void Write(char value) => throw new IOException("No space left on device");

        public override void Write(string? value) => throw new IOException("No space left on device");

        public override void WriteLine(string? value) => throw new IOException("No space left on device");
    }

    [Fact]
    public void OutputFileNameTooLong_NothingWritten()
    {
        // 300 bytes: the temporary file (its name shortened) could be written, the final rename could not, after
        // --out had already been renamed into place; so the length is checked up front.
        string longName = P(new string('g', 296) + ".npy");
        Fails(Usage, ["--grad", "the file name is 300 bytes long"],
            ["nll", P("x.npy"), P("t.npy"), "--out", P("loss.npy"), "--grad", longName], withOutputs: false);
    }

    // ---- Commands, options and arguments ----

    [Fact]
    public void UnknownCommand() => Fails(Usage, ["unknown command 'frob'", "nll, cross-entropy, demo"], ["frob", P("x.npy")], withOutputs: false);

    [Fact]
    public void UnknownCommandBeforeVersion() =>
        Fails(Usage, ["unknown command 'ce'", "nll, cross-entropy, demo"], ["ce", "--version"], withOutputs: false);

    [Theory]
    [InlineData("nll")]
    [InlineData("cross-entropy")]
    [InlineData("demo")]
    [InlineData("eval")]
    public void VersionOfACommand(string command) =>
        Fails(Usage, ["--version belongs to 'xent' alone: run 'xent --version'"], [command, "--version"], withOutputs: false);

    [Fact]
    public void Version()
    {
        (int exit, string stdout, string stderr) = Run("--version");
        Assert.Equal(0, exit);
        Assert.Matches(@"^\d+\.\d+\.\d+", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public void NoCommand() => Fails(Usage, ["Required command was not provided"], [], withOutputs: false);

    [Theory]
    [InlineData("nll", "--bogus")]
    [InlineData("nll", "--label-smoothing")]   // only cross-entropy has it
    [InlineData("nll", "--log-prob")]
    [InlineData("cross-entropy", "-x")]
    public void UnknownOption(string command, string option) =>
        FailsUsage([$"Unrecognized command or argument '{option}'"], command, P("x.npy"), P("t.npy"), option, "0.1");

    [Fact]
    public void ExtraArgument() =>
        FailsUsage([$"Unrecognized command or argument '{P("w.npy")}'"], "nll", P("x.npy"), P("t.npy"), P("w.npy"));

    [Fact]
    public void MissingTarget() => Fails(Usage, ["'xent nll' needs TARGET, which is missing"], ["nll", P("x.npy")], withOutputs: false);

    [Fact]
    public void MissingInputAndTarget() =>
        Fails(Usage, ["'xent cross-entropy' needs INPUT and TARGET, which are missing"], ["cross-entropy"], withOutputs: false);

    [Theory]
    [InlineData("--ignore-index")]
    [InlineData("--weight")]
    [InlineData("--reduction")]
    [InlineData("--out")]
    public void OptionWithoutValue(string option) =>
        Fails(Usage, [$"Required argument missing for option: '{option}'"], ["nll", P("x.npy"), P("t.npy"), option], withOutputs: false);

    [Theory]
    [InlineData("abc")]
    [InlineData("1e99")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999")]   // one past long.MaxValue's digits
    [InlineData("0x10")]
    [InlineData("")]
    public void IgnoreIndexNotAnInteger(string value) =>
        FailsUsage([$"--ignore-index must be an integer from -9223372036854775808 to 9223372036854775807, got '{value}'"],
            "nll", P("x.npy"), P("t.npy"), "--ignore-index", value);

    [Theory]
    [InlineData("x")]
    [InlineData("inf")]        // .NET reads "Infinity" and "nan" (any case), not "inf"
    [InlineData("0.1.2")]
    [InlineData("")]
    public void LabelSmoothingNotANumber(string value) =>
        FailsUsage([$"--label-smoothing must be a number between 0.0 and 1.0, got '{value}'"],
            "cross-entropy", P("x.npy"), P("t.npy"), "--label-smoothing", value);

    [Theory]
    [InlineData("NaN", "NaN")]
    [InlineData("nan", "NaN")]
    [InlineData("1.5", "1.5")]
    [InlineData("-0.1", "-0.1")]
    [InlineData("1e99", "1E+99")]
    [InlineData("Infinity", "Infinity")]
    [InlineData("-Infinity", "-Infinity")]
    public void LabelSmoothingOutOfRange(string value, string printed) =>
        FailsUsage(["--label-smoothing: label_smoothing must be between 0.0 and 1.0. Got: " + printed],
            "cross-entropy", P("x.npy"), P("p.npy"), "--label-smoothing", value);

    [Theory]
    [InlineData("avg")]
    [InlineData("Mean")]
    [InlineData("elementwise_mean")]
    [InlineData("")]
    public void BadReduction(string value) =>
        FailsUsage([$"Argument '{value}' not recognized. Must be one of:", "'none' 'mean' 'sum'"],
            "nll", P("x.npy"), P("t.npy"), "--reduction", value);

    // ---- Targets ----

    [Theory]
    [InlineData("nll", long.MinValue)]
    [InlineData("nll", long.MaxValue)]
    [InlineData("cross-entropy", long.MinValue)]
    [InlineData("cross-entropy", long.MaxValue)]
    [InlineData("cross-entropy", 5L)]
    [InlineData("nll", -1L)]
    public void TargetOutOfBounds(string command, long bad)
    {
        Npy("bad.npy", new long[] { 1, bad, 3 }, 3);
        FailsData([$"Target {bad} is out of bounds."], command, P("x.npy"), P("bad.npy"));
    }

    [Fact]
    public void TargetOutOfBounds_Int32AndUInt8()
    {
        Npy("i4.npy", new int[] { 1, int.MinValue, 3 }, 3);
        FailsData(["Target -2147483648 is out of bounds."], "nll", P("x.npy"), P("i4.npy"));
        Npy("u1.npy", new byte[] { 1, 255, 3 }, 3);
        FailsData(["Target 255 is out of bounds."], "cross-entropy", P("x.npy"), P("u1.npy"));
    }

    [Fact]
    public void TargetMinValue_IsNotIgnoredUnlessAsked()
    {
        // --ignore-index takes any long, long.MinValue included: then the same target is ignored and the run succeeds.
        Npy("bad.npy", new long[] { 1, long.MinValue, 3 }, 3);
        (int exit, _, string stderr) = Run("nll", P("x.npy"), P("bad.npy"), "--ignore-index", long.MinValue.ToString(), "--out", P("loss.npy"));
        Assert.True(exit == 0, stderr);
        Assert.True(File.Exists(P("loss.npy")));
    }

    [Theory]
    [InlineData("uint64")]
    [InlineData("int16")]
    [InlineData("int8")]
    [InlineData("uint32")]
    public void UnsupportedIntegerTarget(string dtype)
    {
        _ = dtype switch
        {
            "uint64" => Npy("bad.npy", new ulong[] { 1, 4, 3 }, 3),
            "int16" => Npy("bad.npy", new short[] { 1, 4, 3 }, 3),
            "int8" => Npy("bad.npy", new sbyte[] { 1, 4, 3 }, 3),
            _ => Npy("bad.npy", new uint[] { 1, 4, 3 }, 3),
        };
        FailsData([$"class targets must be int64, int32 or uint8, got {dtype} [3] in {P("bad.npy")}"], "cross-entropy", P("x.npy"), P("bad.npy"));
    }

    [Fact]
    public void NllWithFloatTarget() =>
        FailsData([$"nll needs integer class indices as target, got float32 [3, 5] in {P("p.npy")}"], "nll", P("x.npy"), P("p.npy"));

    [Fact]
    public void ProbabilityTargetOfWrongShape()
    {
        Npy("p34.npy", Enumerable.Repeat(0.25f, 12).ToArray(), 3, 4);
        FailsData(["must have the input's shape [3, 5], got [3, 4]"], "cross-entropy", P("x.npy"), P("p34.npy"));
        Npy("p15.npy", Enumerable.Repeat(0.2f, 15).ToArray(), 15);
        FailsData(["must have the input's shape [3, 5], got [15]"], "cross-entropy", P("x.npy"), P("p15.npy"));
    }

    [Fact]
    public void ClassTargetOfWrongShape()
    {
        Npy("t4.npy", new long[] { 1, 2, 3, 4 }, 4);
        FailsData(["Expected input batch_size (3) to match target batch_size (4)."], "cross-entropy", P("x.npy"), P("t4.npy"));
    }

    // ---- Weights ----

    [Fact]
    public void WeightOfWrongLength()
    {
        Npy("w4.npy", new float[] { 1, 1, 1, 1 }, 4);
        FailsData(["weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [4]"],
            "nll", P("x.npy"), P("t.npy"), "--weight", P("w4.npy"));
    }

    [Fact]
    public void WeightTwoDimensional()
    {
        Npy("w2.npy", new float[] { 1, 1, 1, 1, 1 }, 1, 5);
        FailsData([$"weight must be a 1-D float array, got float32 [1, 5] in {P("w2.npy")}"], "cross-entropy", P("x.npy"), P("t.npy"), "--weight", P("w2.npy"));
    }

    [Fact]
    public void WeightOfIntegers()
    {
        Npy("wi.npy", new long[] { 1, 1, 1, 1, 1 }, 5);
        FailsData([$"weight must be a 1-D float array, got int64 [5] in {P("wi.npy")}"], "nll", P("x.npy"), P("t.npy"), "--weight", P("wi.npy"));
    }

    // ---- Inputs ----

    [Fact]
    public void InputOfIntegers()
    {
        Npy("xi.npy", new int[] { 1, 2, 3 }, 3);
        FailsData([$"input must hold float16, float32 or float64 values, got int32 [3] in {P("xi.npy")}"], "nll", P("xi.npy"), P("t.npy"));
    }

    [Fact]
    public void InputScalar()
    {
        Npy("x0.npy", new float[] { 1 }, []);
        FailsData(["Expected 1 or more dimensions (got 0)"], "cross-entropy", P("x0.npy"), P("t.npy"));
    }

    // ---- Corrupt .npy files (any of the three) ----

    public static TheoryData<string, string> CorruptFiles() => new()
    {
        { "empty", "not a .npy file: the file is empty" },
        { "bad magic", "not a .npy file: it does not start with the magic string \\x93NUMPY (found 50 4b 03 04 14 00)" },
        { "short", "file is too short to be a .npy file (7 bytes)" },
        { "version", "unsupported .npy format version 9.0 (expected 1.0, 2.0 or 3.0)" },
        { "header truncated", "header is truncated: the header length field says 118 bytes, but only 20 follow" },
        { "data truncated", "data is truncated: expected 60 bytes after the header, found 56" },
        { "trailing bytes", "3 unexpected bytes after the data: expected 60 bytes after the header, found 63" },
        { "object dtype", "unsupported dtype '|O' (object arrays cannot be read)" },
        { "bool dtype", "unsupported dtype '|b1' (boolean arrays are not supported; save them as uint8)" },
        { "header garbage", "malformed header: expected a string key or '}', found the end of the header" },
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void CorruptNpy(string kind, string reason)
    {
        byte[] valid = File.ReadAllBytes(P("x.npy"));
        byte[] bytes = kind switch
        {
            "empty" => [],
            "bad magic" => [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00],
            "short" => valid[..7],
            "version" => [.. valid[..6], 9, 0, .. valid[8..]],
            "header truncated" => valid[..30],
            "data truncated" => valid[..^4],
            "trailing bytes" => [.. valid, 1, 2, 3],
            "object dtype" => NpyTestFiles.Build("|O", "(3,)", new byte[24]),
            "bool dtype" => NpyTestFiles.Build("|b1", "(3,)", new byte[3]),
            _ => NpyTestFiles.Build("{'descr': '<f4', 'shape': (3, 5), ", new byte[60]),
        };
        Assert.True(kind != "header truncated" || BitConverter.ToUInt16(valid, 8) == 118, "the fixture's header length changed");

        foreach (string which in new[] { "input", "target", "weight" })
        {
            string bad = Bytes($"bad-{which}.npy", bytes);
            string[] args = which switch
            {
                "input" => ["cross-entropy", bad, P("t.npy")],
                "target" => ["cross-entropy", P("x.npy"), bad],
                _ => ["cross-entropy", P("x.npy"), P("t.npy"), "--weight", bad],
            };
            FailsData([$"{bad}: {reason}"], args);
            File.Delete(bad);
        }
    }

    // ---- Empty arrays ----

    [Fact]
    public void ZeroClasses_TargetOutOfBounds()
    {
        Npy("x30.npy", Array.Empty<float>(), 3, 0);
        FailsData(["Target 1 is out of bounds."], "cross-entropy", P("x30.npy"), P("t.npy"));
    }

    [Fact]
    public void EmptyOneDimensionalInput_WithOneDimensionalTarget()
    {
        Npy("x0.npy", Array.Empty<float>(), 0);
        Npy("t0.npy", Array.Empty<long>(), 0);
        FailsData(["Expected target to be 0D when input is 1D, but got target.dim =1"], "nll", P("x0.npy"), P("t0.npy"));
    }

    [Fact]
    public void EmptyBatchWithTargets_SizeMismatch()
    {
        Npy("x05.npy", Array.Empty<float>(), 0, 5);
        FailsData(["Expected input batch_size (0) to match target batch_size (3)."], "nll", P("x05.npy"), P("t.npy"));
    }

    /// <summary>Not a failure: an empty batch is valid, its mean is NaN (0/0, as PyTorch), its sum 0, its gradient empty.</summary>
    [Theory]
    [InlineData("mean", double.NaN)]
    [InlineData("sum", 0.0)]
    public void EmptyBatch_Succeeds(string reduction, double expected)
    {
        Npy("x05.npy", Array.Empty<float>(), 0, 5);
        Npy("t0.npy", Array.Empty<long>(), 0);
        (int exit, _, string stderr) = Run("cross-entropy", P("x05.npy"), P("t0.npy"), "--reduction", reduction,
            "--out", P("loss.npy"), "--grad", P("grad.npy"));
        Assert.True(exit == 0, stderr);
        Assert.Equal("", stderr);
        NpyArray loss = NpyReader.Read(P("loss.npy"));
        Assert.Empty(loss.Shape);
        Assert.Equal(expected, loss.AsSpan<float>()[0]);
        NpyArray grad = NpyReader.Read(P("grad.npy"));
        Assert.Equal([0L, 5L], grad.Shape);
    }

    // ---- Help ----

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("nll --help")]
    [InlineData("cross-entropy --help")]
    [InlineData("demo --help")]
    public void Help_ExitsZero(string args)
    {
        (int exit, string stdout, string stderr) = Run(args.Split(' '));
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("Usage:", stdout);
        if (args.StartsWith("nll", StringComparison.Ordinal))
        {
            Assert.Contains("--ignore-index", stdout);
            Assert.DoesNotContain("--label-smoothing", stdout);
        }
        else if (args.StartsWith("cross-entropy", StringComparison.Ordinal))
        {
            Assert.Contains("--label-smoothing", stdout);
        }
    }

    /// <summary>A fact skipped where file permissions do not stop this process: Windows, and root (or any user with
    /// CAP_DAC_OVERRIDE), which reads a file whatever its mode — probed, not guessed from the user name.</summary>
    private sealed class PermissionsFactAttribute : FactAttribute
    {
        private static readonly string? s_skipReason = Probe();

        public PermissionsFactAttribute()
        {
            if (s_skipReason is not null)
            {
                Skip = s_skipReason;
            }
        }

        private static string? Probe()
        {
            if (OperatingSystem.IsWindows())
            {
                return "Unix file modes do not apply on Windows";
            }

            string probe = Path.GetTempFileName();
            try
            {
                File.SetUnixFileMode(probe, UnixFileMode.None);
                using (File.OpenRead(probe))
                {
                    return $"this process (user {Environment.UserName}) can read a file with mode 000, as root can: chmod cannot make a file unreadable here";
                }
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
            finally
            {
                File.Delete(probe);
            }
        }
    }
}
