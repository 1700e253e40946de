namespace Xent.Cli.Npy;

/// <summary>
/// A file written under a temporary name in the target's directory and renamed over the target only on
/// <see cref="Commit"/>, so the target is either untouched or complete, never half written.
/// </summary>
/// <remarks>
/// Disposing without committing deletes the temporary file. The rename is atomic because the temporary file is in
/// the same directory, hence on the same file system. The new file gets the default permissions, not those of the
/// file it replaces.
/// </remarks>
internal sealed class AtomicFile : IDisposable
{
    private readonly FileStream _stream;
    private bool _committed;

    private AtomicFile(string path, string tempPath, FileStream stream)
    {
        Path = path;
        TempPath = tempPath;
        _stream = stream;
    }

    /// <summary>The file that <see cref="Commit"/> replaces.</summary>
    public string Path { get; }

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
        string fullPath = System.IO.Path.GetFullPath(path);
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
        return new AtomicFile(path, tempPath, stream);
    }

    /// <summary>Flushes the new contents to disk and renames them over <see cref="Path"/>.</summary>
    /// <exception cref="IOException">The flush or the rename fails; the temporary file is deleted on dispose.</exception>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);

        // Flush to the disk before the rename, or a crash could leave the new name pointing at missing data.
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(TempPath, Path, overwrite: true);
        _committed = true;
    }

    /// <summary>Closes the stream and, unless committed, deletes the temporary file.</summary>
    public void Dispose()
    {
        _stream.Dispose();
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
