using System.IO.MemoryMappedFiles;
using Xent.Cli.Npy;
using Xent.Cli.Safetensors;

namespace Xent.Cli.Eval;

/// <summary>The element types <c>xent eval</c> reads in place.</summary>
internal enum ElementKind
{
    Float16,
    BFloat16,
    Float32,
    Float64,
    Int64,
    Int32,
    UInt8,
}

/// <summary>
/// A row-major, little-endian array inside a .npy or .safetensors file, memory-mapped rather than loaded, so arrays
/// larger than memory can be read a slice at a time (the operating system pages them in and out).
/// </summary>
/// <remarks>
/// A source is <c>file.npy</c>, <c>file.safetensors:NAME</c>, or <c>file.safetensors</c> when the file holds one
/// tensor. Headers are fully checked before mapping: the data must lie inside the file. Big-endian and Fortran-order
/// .npy arrays are refused, since reading them in place would need a copy.
/// </remarks>
internal sealed unsafe class MappedTensor : IDisposable
{
    private const string SafetensorsSuffix = ".safetensors";

    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data;

    private MappedTensor(string source, ElementKind kind, long[] shape, MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* data)
    {
        Source = source;
        Kind = kind;
        Shape = shape;
        Count = shape.Aggregate(1L, (a, b) => a * b);
        _file = file;
        _view = view;
        _data = data;
    }

    /// <summary>The source as the user wrote it, for messages.</summary>
    public string Source { get; }

    /// <summary>The element type.</summary>
    public ElementKind Kind { get; }

    /// <summary>The dimensions, outermost first.</summary>
    public long[] Shape { get; }

    /// <summary>The number of elements.</summary>
    public long Count { get; }

    /// <summary>The dtype as NumPy names it: <c>float32</c>, <c>bfloat16</c>, <c>int64</c>, …</summary>
    public string DTypeName => Kind switch
    {
        ElementKind.Float16 => "float16",
        ElementKind.BFloat16 => "bfloat16",
        ElementKind.Float32 => "float32",
        ElementKind.Float64 => "float64",
        ElementKind.Int64 => "int64",
        ElementKind.Int32 => "int32",
        _ => "uint8",
    };

    /// <summary>Whether the elements are floating-point.</summary>
    public bool IsFloat => Kind is ElementKind.Float16 or ElementKind.BFloat16 or ElementKind.Float32 or ElementKind.Float64;

    /// <summary>Opens and maps <paramref name="source"/>.</summary>
    /// <param name="source"><c>file.npy</c>, <c>file.safetensors:NAME</c> or <c>file.safetensors</c>.</param>
    /// <param name="what">What the array is, for messages: "logits", "targets".</param>
    /// <exception cref="CliException">The file is missing, unreadable, or holds an unsupported array.</exception>
    /// <exception cref="FormatException">The file is malformed.</exception>
    public static MappedTensor Open(string source, string what)
    {
        (string path, string? name) = Split(source);
        FileStream stream = CliFiles.OpenInput(path, what, p => new FileStream(p, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1));

        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new CliException($"{what} '{path}' is not a regular file (a pipe or a device): eval memory-maps its inputs, so save them to a file first");
        }

        try
        {
            (ElementKind kind, long[] shape, long offset, long length) = path.EndsWith(SafetensorsSuffix, StringComparison.OrdinalIgnoreCase) || name is not null
                ? FromSafetensors(stream, path, name, what)
                : FromNpy(stream, path, what);
            if (length == 0)
            {
                stream.Dispose();
                return new MappedTensor(source, kind, shape, null, null, null);
            }

            // The view covers the whole file: MemoryMappedFile aligns view offsets itself, and the data's offset is then
            // added to the view's pointer. Only address space is reserved; pages are read as they are touched.
            MemoryMappedFile file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            MemoryMappedViewAccessor view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            return new MappedTensor(source, kind, shape, file, view, start + view.PointerOffset + offset);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Elements [start, start + count) as <typeparamref name="T"/>, which must match <see cref="Kind"/>.</summary>
    public ReadOnlySpan<T> Slice<T>(long start, int count)
        where T : unmanaged
    {
        if (start < 0 || count < 0 || start > Count - count)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"elements [{start}, {start + count}) are outside {Source} ({Count} elements)");
        }

        return count == 0 ? default : new ReadOnlySpan<T>(_data + (start * sizeof(T)), count);
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _file?.Dispose();
    }

    /// <summary>Splits <c>file.safetensors:NAME</c> at the colon after the extension; tensor names may hold colons too.</summary>
    internal static (string Path, string? Name) Split(string source)
    {
        int at = source.IndexOf(SafetensorsSuffix + ":", StringComparison.OrdinalIgnoreCase);
        return at < 0 ? (source, null) : (source[..(at + SafetensorsSuffix.Length)], source[(at + SafetensorsSuffix.Length + 1)..]);
    }

    private static (ElementKind, long[], long, long) FromNpy(FileStream stream, string path, string what)
    {
        NpyHeader header = NpyReader.ReadHeader(stream, path, out long offset);
        if (header.BigEndian)
        {
            throw new CliException($"{what} {path} is big-endian ({header.Descr}); eval reads arrays in place, so save it little-endian (arr.astype(arr.dtype.newbyteorder('<')))");
        }

        if (header.FortranOrder && header.Shape.Length > 1)
        {
            throw new CliException($"{what} {path} is in Fortran order; eval reads arrays in place, so save it in C order (np.ascontiguousarray)");
        }

        ElementKind kind = header.DType switch
        {
            NpyDType.Float16 => ElementKind.Float16,
            NpyDType.Float32 => ElementKind.Float32,
            NpyDType.Float64 => ElementKind.Float64,
            NpyDType.Int64 => ElementKind.Int64,
            NpyDType.Int32 => ElementKind.Int32,
            NpyDType.UInt8 => ElementKind.UInt8,
            _ => throw new CliException($"{what} {path} holds {header.Descr}; eval reads <f2, <f4, <f8 logits and <i8, <i4, |u1 targets"),
        };
        return (kind, header.Shape, offset, header.ByteCount);
    }

    private static (ElementKind, long[], long, long) FromSafetensors(FileStream stream, string path, string? name, string what)
    {
        SafetensorsHeader header = SafetensorsHeader.Read(stream, path);
        SafetensorsEntry entry = header.Find(name, path);
        ElementKind kind = entry.DType switch
        {
            "F16" => ElementKind.Float16,
            "BF16" => ElementKind.BFloat16,
            "F32" => ElementKind.Float32,
            "F64" => ElementKind.Float64,
            "I64" => ElementKind.Int64,
            "I32" => ElementKind.Int32,
            "U8" => ElementKind.UInt8,
            _ => throw new CliException($"{what} {path}:{entry.Name} holds {entry.DType}; eval reads F16, BF16, F32, F64 logits and I64, I32, U8 targets"),
        };
        return (kind, entry.Shape, header.DataStart + entry.Begin, entry.End - entry.Begin);
    }
}
