namespace ShopAstro.Samples.Storefront;

/// <summary>
/// Names the sample's assembly for <c>WebApplicationFactory&lt;SampleStorefront&gt;</c> in tests (the edge API's
/// public <c>Program</c> is already taken there; this sample's is internal).
/// </summary>
public sealed class SampleStorefront
{
    private SampleStorefront()
    {
    }
}
