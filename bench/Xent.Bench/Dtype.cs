namespace Xent.Bench;

/// <summary>The logits' element type: PyTorch's float32, float16 and bfloat16.</summary>
public enum Dtype
{
    Float32,
    Float16,
    BFloat16,
}

internal static class Dtypes
{
    public static int Size(this Dtype dtype) => dtype == Dtype.Float32 ? sizeof(float) : 2;

    /// <summary>The short name used in the tables: fp32, fp16, bf16.</summary>
    public static string Name(this Dtype dtype) => dtype switch
    {
        Dtype.Float32 => "fp32",
        Dtype.Float16 => "fp16",
        _ => "bf16",
    };

    /// <summary>Rounds a float to the nearest value of the element type (ties to even), returned as a float, so the float
    /// array that libtorch gets and the narrow array that Xent gets hold exactly the same numbers.</summary>
    public static float Round(this Dtype dtype, float value) => dtype switch
    {
        Dtype.Float32 => value,
        Dtype.Float16 => (float)(Half)value,
        _ => (BFloat16)value,
    };
}
