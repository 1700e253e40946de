namespace Xent.Cli;

/// <summary>
/// The checks every command makes on the files it is given, before it reads or writes any: an input that can be read,
/// an output that can be replaced, and no output that names an input.
/// </summary>
/// <remarks>
/// Outputs are written to a temporary file and renamed over their path (<see cref="Npy.AtomicFile"/>), which replaces
/// whatever is there: so an output in <c>/dev</c>, <c>/proc</c> or <c>/sys</c> is refused (run as root, <c>--out
/// /dev/null</c> would replace the device with a plain file), and a symbolic link is followed to the file it names,
/// which is then replaced and the link kept. (A FIFO or socket elsewhere would be replaced by a plain file: .NET cannot
/// tell them from files without opening them.) Paths are compared after following links, so <c>--out</c> cannot name
/// an input through a link either.
/// </remarks>
internal static class CliFiles
{
    /// <summary>The longest file name (one path component) that common file systems accept, in UTF-8 bytes.</summary>
    private const int MaxFileNameBytes = 255;

    /// <summary>Opens an input with <paramref name="open"/>, turning the ways that fails into the one-line error that
    /// names it: a directory, a missing file, no permission (on the file, or on a directory on its path, where
    /// File.Exists says false too).</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What it holds, for the message: "input", "weight", "logits".</param>
    /// <param name="open">Opens (and reads) the file.</param>
    public static T OpenInput<T>(string path, string what, Func<string, T> open)
    {
        if (Directory.Exists(path))
        {
            throw new CliException($"{what} '{path}' is a directory, not a file");
        }

        try
        {
            return open(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CliException($"{what} file '{path}' does not exist");
        }
        catch (UnauthorizedAccessException)
        {
            throw new CliException($"{what} file '{path}' cannot be read (permission denied)");
        }
    }

    /// <summary>Starts an output (<see cref="Npy.AtomicFile.Create"/>); a directory that refuses new files is the
    /// one-line error that names the output.</summary>
    public static Npy.AtomicFile CreateOutput(string path)
    {
        try
        {
            return Npy.AtomicFile.Create(path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new CliException($"cannot write '{path}' (permission denied)");
        }
    }

    /// <summary>Checks an output path before anything is computed (exit code 2 on a bad one) and returns the file that
    /// will be replaced: <paramref name="path"/>, or the file a symbolic link there points to.</summary>
    /// <param name="path">The output, or null when the option was not given.</param>
    /// <param name="option">The option that named it, for the message: "--out".</param>
    /// <returns>The full path that will be written, or null for a null <paramref name="path"/>.</returns>
    public static string? CheckOutput(string? path, string option)
    {
        if (path is null)
        {
            return null;
        }

        if (path.Length == 0)
        {
            throw new CliException($"{option} needs a file name, got an empty string", ExitCodes.Usage);
        }

        if (Directory.Exists(path))
        {
            throw new CliException($"{option} '{path}' is a directory", ExitCodes.Usage);
        }

        string target = FinalPath(path);
        string directory = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(directory))
        {
            throw new CliException($"{option} '{path}': the output directory '{directory}' does not exist", ExitCodes.Usage);
        }

        if (IsSystemPath(target))
        {
            throw new CliException($"{option} '{path}' is a device or system file ({target}), not a file xent can replace: it writes a new file and renames it into place", ExitCodes.Usage);
        }

        // Linux, macOS and Windows cap one name at 255 bytes or characters. The temporary file's name is shortened to
        // fit, so without this check a long name would fail only at the final rename, after other outputs were renamed.
        int nameBytes = System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(target));
        if (nameBytes > MaxFileNameBytes)
        {
            throw new CliException($"{option}: the file name is {nameBytes} bytes long, more than the {MaxFileNameBytes} a file system allows", ExitCodes.Usage);
        }

        return target;
    }

    /// <summary>Refuses two outputs that name one file (only the last would be left), and an output that names an input
    /// (the input would be lost): a usage error, found before anything is read.</summary>
    /// <param name="outputs">Each output's path (null when not given) and option.</param>
    /// <param name="inputs">Each input's path (null when not given) and what it is ("INPUT", "--weight").</param>
    public static void CheckDistinct(IEnumerable<(string? Path, string Option)> outputs, IEnumerable<(string? Path, string What)> inputs)
    {
        var written = new Dictionary<string, string>(PathComparer);
        foreach ((string? path, string option) in outputs)
        {
            if (path is null)
            {
                continue;
            }

            string target = FinalPath(path);
            if (!written.TryAdd(target, option))
            {
                throw new CliException($"{written[target]} and {option} name the same file '{path}'", ExitCodes.Usage);
            }
        }

        foreach ((string? path, string what) in inputs)
        {
            if (path is not null && written.TryGetValue(FinalPath(path), out string? option))
            {
                throw new CliException($"{option} names the {what} file '{path}', which would be overwritten", ExitCodes.Usage);
            }
        }
    }

    /// <summary>Prints to standard output and flushes it, reporting a failure (stdout closed, or on a full disk) as one
    /// line that says so: .NET's own messages name no path ("Access to the path is denied.").</summary>
    /// <param name="stdout">The writer.</param>
    /// <param name="print">What to print.</param>
    public static void ToStdout(TextWriter stdout, Action print)
    {
        try
        {
            print();
            stdout.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write to standard output ({e.Message.TrimEnd('.')})");
        }
    }

    /// <summary>The full path with every symbolic link followed; a path that is not a link (or does not exist) as it
    /// is, and a dangling link as the path it names.</summary>
    internal static string FinalPath(string path)
    {
        string full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (info.LinkTarget is null)
        {
            return full;
        }

        try
        {
            FileSystemInfo? target = info.ResolveLinkTarget(returnFinalTarget: true);
            return target is null ? full : Path.GetFullPath(target.FullName);
        }
        catch (IOException)
        {
            // A link loop: leave it to the open or the rename to report.
            return full;
        }
    }

    /// <summary>Whether a path is in the device or kernel file systems (<c>/dev</c>, <c>/proc</c>, <c>/sys</c>), whose
    /// entries are not files to replace. .NET reports devices, FIFOs and sockets as ordinary files and has no call that
    /// tells them apart without opening them (which blocks on a FIFO), so these are known by where they live.</summary>
    private static bool IsSystemPath(string fullPath) =>
        !OperatingSystem.IsWindows() &&
        (fullPath.StartsWith("/dev/", StringComparison.Ordinal) || fullPath.StartsWith("/proc/", StringComparison.Ordinal)
            || fullPath.StartsWith("/sys/", StringComparison.Ordinal));

    private static StringComparer PathComparer => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()
        ? StringComparer.OrdinalIgnoreCase
        : StringComparer.Ordinal;
}
