using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Http;

/// <summary>
/// <c>DNT</c> and <c>Sec-GPC</c> as their specifications define them: only the exact value <c>1</c> is a
/// signal; absent, <c>0</c> or anything else is none.
/// </summary>
public static class PrivacySignals
{
    public static RequestSignals From(HttpRequest request) =>
        new(IsOne(request.Headers["DNT"]), IsOne(request.Headers["Sec-GPC"]));

    private static bool IsOne(Microsoft.Extensions.Primitives.StringValues values) =>
        values.Count == 1 && values[0] == "1";
}
