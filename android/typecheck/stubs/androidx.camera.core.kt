@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.camera.core
import java.nio.ByteBuffer
interface ImageInfo { val rotationDegrees: Int }
interface ImageProxy : AutoCloseable {
    val format: Int; val width: Int; val height: Int; val planes: Array<PlaneProxy>; val imageInfo: ImageInfo
    interface PlaneProxy { val buffer: ByteBuffer; val rowStride: Int; val pixelStride: Int }
}
class ImageAnalysis { fun interface Analyzer { fun analyze(image: ImageProxy) } }
