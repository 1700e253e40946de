namespace Xent.Cli.Npy;

/// <summary>
/// A file written under a temporary name in the target's directory and renamed over the target only on
/// <see cref="Commit"/>, so the target is either untouched or complete, never half written.
/// </summary>
/// <remarks>
/// Disposing without committing deletes the temporary file, even when the stream cannot flush what it holds (a full
/// disk). The rename is atomic because the temporary file is in the same directory, hence on the same file system. A
/// symbolic link is followed: the file it names is replaced and the link kept. The new file gets the default
/// permissions, not those of the file it replaces.
/// </remarks>
internal sealed class AtomicFile : IDisposable
{
    private readonly FileStream _stream;
    private bool _committed;

    private AtomicFile(string path, string targetPath, string tempPath, FileStream stream)
    {
        Path = path;
        TargetPath = targetPath;
        TempPath = tempPath;
        _stream = stream;
    }

    /// <summary>The path as the user gave it, for messages.</summary>
    public string Path { get; }

    /// <summary>The file that <see cref="Commit"/> replaces: <see cref="Path"/>, or the file a link there names.</summary>
    public string TargetPath { get; }

    /// <summary>The temporary file being written: <c>.{name}.{random}.tmp</c> beside <see cref="Path"/>.</summary>
    public string TempPath { get; }

    /// <summary>The stream to write the new contents to.</summary>
    public Stream Stream => _stream;

    /// <summary>Starts writing a new version of <paramref name="path"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory that should hold <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the temporary file cannot be created.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory is not writable.</exception>
    public static AtomicFile Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = CliFiles.FinalPath(path);
        string fileName = System.IO.Path.GetFileName(fullPath);
        if (fileName.Length == 0 || Directory.Exists(fullPath))
        {
            throw new IOException($"{path}: is a directory, not a file");
        }

        string directory = System.IO.Path.GetDirectoryName(fullPath)!;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{path}: the output directory '{directory}' does not exist");
        }

        // Keep the temporary name within the usual 255-byte limit on a file name.
        string stem = fileName.Length > 200 ? fileName[..200] : fileName;
        string tempPath = System.IO.Path.Combine(directory, $".{stem}.{Random.Shared.Next():x8}.tmp");
        var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        return new AtomicFile(path, fullPath, tempPath, stream);
    }

    /// <summary>Flushes what was written to the disk, so that a full disk shows here, before anything is printed or
    /// renamed, rather than in <see cref="Commit"/>.</summary>
    public void Flush() => _stream.Flush(flushToDisk: true);

    /// <summary>Flushes the new contents to disk and renames them over <see cref="Path"/>.</summary>
    /// <exception cref="IOException">The flush or the rename fails; the temporary file is deleted on dispose.</exception>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);

        // Flush to the disk before the rename, or a crash could leave the new name pointing at missing data.
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(TempPath, TargetPath, overwrite: true);
        _committed = true;
    }

    /// <summary>The message of a failure to write this file, naming <see cref="Path"/> rather than the temporary file
    /// (.NET's messages end with the path they failed on: "No space left on device : '/d/.x.npy.1a2b3c4d.tmp'").</summary>
    public string Describe(Exception e) =>
        $"cannot write '{Path}': " + e.Message.Replace($" : '{TempPath}'", string.Empty, StringComparison.Ordinal)
            .Replace(TempPath, Path, StringComparison.Ordinal);

    /// <summary>Closes the stream and, unless committed, deletes the temporary file.</summary>
    public void Dispose()
    {
        try
        {
            _stream.Dispose();
        }
        catch (IOException) when (!_committed)
        {
            // The stream's last flush failed (a full disk): the handle is closed all the same, and the data is not
            // wanted. The write that failed first has been reported.
        }

        if (!_committed)
        {
            try
            {
                File.Delete(TempPath);
            }
            catch (IOException)
            {
                // Best effort: the original exception, already on its way out, is the one worth reporting.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
