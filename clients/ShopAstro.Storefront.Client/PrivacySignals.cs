using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace ShopAstro.Storefront.Client;

/// <summary>
/// A browser's privacy signals: <c>DNT: 1</c> (Do Not Track) and <c>Sec-GPC: 1</c> (Global Privacy Control).
/// On the wire of a batch this is <c>{"dnt":false,"gpc":false}</c>; on every other call the client sends
/// them as the request headers the edge reads.
/// </summary>
public readonly record struct PrivacySignals(bool Dnt, bool Gpc)
{
    public const string DntHeader = "DNT";
    public const string GpcHeader = "Sec-GPC";

    public static PrivacySignals None => default;

    /// <summary>
    /// The signals of a shopper's request, as their specifications define them: only the exact single value
    /// <c>1</c> is a signal; absent, <c>0</c> or anything else is none.
    /// </summary>
    public static PrivacySignals From(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new PrivacySignals(IsOne(request.Headers[DntHeader]), IsOne(request.Headers[GpcHeader]));
    }

    internal void ApplyTo(HttpRequestMessage message)
    {
        if (Dnt)
        {
            message.Headers.TryAddWithoutValidation(DntHeader, "1");
        }

        if (Gpc)
        {
            message.Headers.TryAddWithoutValidation(GpcHeader, "1");
        }
    }

    private static bool IsOne(StringValues values) => values.Count == 1 && values[0] == "1";
}
