namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// A change could not be made durable: nothing was acknowledged and nothing was kept in memory. The
/// caller may retry; the edge answers 503 with Retry-After.
/// </summary>
[GenerateSerializer, Alias("shopastro.StorageUnavailableException")]
public sealed class StorageUnavailableException : Exception
{
    public StorageUnavailableException()
    {
    }

    public StorageUnavailableException(string message)
        : base(message)
    {
    }

    public StorageUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
