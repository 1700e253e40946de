using System.Runtime.InteropServices;
using System.Text;

namespace Xent.Cli.Npy;

/// <summary>
/// A dense n-dimensional array as read from, or to be written to, a .npy file: C (row-major) order and
/// little-endian elements, whatever the file held.
/// </summary>
internal sealed class NpyArray
{
    /// <summary>Wraps <paramref name="data"/> (not copied) as an array of <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions, outermost first; empty for a scalar. Copied.</param>
    /// <param name="data">The elements in C order, little-endian; exactly count × item size bytes.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, or <paramref name="data"/> has the wrong length.</exception>
    public NpyArray(NpyDType dtype, ReadOnlySpan<long> shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        int itemSize = dtype.ItemSize();
        long count = CountElements(shape, nameof(shape));
        if (count > data.LongLength / itemSize || count * itemSize != data.LongLength)
        {
            throw new ArgumentException(
                $"data has {data.LongLength} bytes, but shape {FormatShape(shape)} of {dtype.Descr()} needs {(Int128)count * itemSize}.",
                nameof(data));
        }

        DType = dtype;
        Shape = shape.ToArray();
        Data = data;
        Count = count;
    }

    /// <summary>The element type.</summary>
    public NpyDType DType { get; }

    /// <summary>The canonical little-endian NumPy descr of <see cref="DType"/>, e.g. <c>&lt;f4</c> or <c>|u1</c>.</summary>
    public string Descr => DType.Descr();

    /// <summary>The dimensions, outermost first; empty for a scalar.</summary>
    public long[] Shape { get; }

    /// <summary>The number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>The elements in C order, little-endian.</summary>
    public byte[] Data { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/>, 1 for a scalar.</summary>
    public long Count { get; }

    /// <summary>The size of one element in bytes.</summary>
    public int ItemSize => DType.ItemSize();

    /// <summary>Whether the elements are floating-point (<c>f2</c>, <c>f4</c>, <c>f8</c>).</summary>
    public bool IsFloat => DType.IsFloat();

    /// <summary>Whether the elements are signed or unsigned integers.</summary>
    public bool IsInteger => !DType.IsFloat();

    /// <summary>The shape as PyTorch prints a <c>torch.Size</c>: <c>[4, 3]</c>, <c>[5]</c>, <c>[]</c>.</summary>
    public string ShapeString => FormatShape(Shape);

    /// <summary>Views the elements as <typeparamref name="T"/>, which must be the element type of <see cref="DType"/>.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not the element type of <see cref="DType"/>.</exception>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        if (!NpyDTypes.TryFromElementType<T>(out NpyDType dtype) || dtype != DType)
        {
            throw new InvalidOperationException($"Cannot view {Descr} data as {typeof(T).Name}.");
        }

        // Every element type is little-endian in memory on the platforms .NET runs on, so the bytes are the values.
        return MemoryMarshal.Cast<byte, T>(Data);
    }

    /// <summary>Copies <paramref name="data"/> into a new array of the matching dtype and <paramref name="shape"/>.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no NumPy dtype here.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, or the shape does not hold <paramref name="data"/>.Length elements.</exception>
    public static NpyArray Create<T>(ReadOnlySpan<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        NpyDType dtype = DTypeOf<T>();
        long count = CountElements(shape, nameof(shape));
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"data has {data.Length} elements, but shape {FormatShape(shape)} holds {count}.", nameof(data));
        }

        return new NpyArray(dtype, shape, MemoryMarshal.AsBytes(data).ToArray());
    }

    /// <summary>The dtype of <typeparamref name="T"/> elements.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no NumPy dtype here.</exception>
    internal static NpyDType DTypeOf<T>() where T : unmanaged =>
        NpyDTypes.TryFromElementType<T>(out NpyDType dtype)
            ? dtype
            : throw new NotSupportedException(
                $"{typeof(T).Name} has no .npy dtype; use Half, float, double, long, int, short, sbyte, byte, ushort, uint or ulong.");

    /// <summary>Formats a shape as PyTorch prints a <c>torch.Size</c>: <c>[4, 3]</c>.</summary>
    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var builder = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                builder.Append(", ");
            }

            builder.Append(shape[i]);
        }

        return builder.Append(']').ToString();
    }

    /// <summary>The product of the dimensions, checked: a negative dimension or a product above <see cref="long.MaxValue"/> throws.</summary>
    internal static long CountElements(ReadOnlySpan<long> shape, string paramName)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"shape {FormatShape(shape)} has a negative dimension.", paramName);
            }
        }

        foreach (long dim in shape)
        {
            if (dim == 0)
            {
                return 0;
            }
        }

        foreach (long dim in shape)
        {
            if (count > long.MaxValue / dim)
            {
                throw new ArgumentException($"shape {FormatShape(shape)} has more than {long.MaxValue} elements.", paramName);
            }

            count *= dim;
        }

        return count;
    }
}
